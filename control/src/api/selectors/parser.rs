//! Recursive-descent parser for label selector strings, following the
//! grammar and error wording of apimachinery's `labels.Parse`:
//!
//! ```text
//! selector    = [ requirement { "," requirement } ]
//! requirement = [ "!" ] key
//!             | key ( "=" | "==" | "!=" | ">" | "<" ) [ value ]
//!             | key ( "in" | "notin" ) "(" [ value { "," value } ] ")"
//! ```

use super::error::SelectorError;
use super::label::{Operator, Requirement};
use super::lexer::{tokenize, Token};

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn syntax(found: &Token, expected: &'static str) -> SelectorError {
    SelectorError::Syntax { found: found.literal().to_string(), expected }
}

impl Parser {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = matches!(self.peek(), Token::Bang);
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(key) => key,
            other => return Err(syntax(&other, "identifier")),
        };
        // `!key` is complete as is (whatever follows is the caller's problem);
        // a bare key is `exists` when the requirement ends right after it.
        if negated {
            return Requirement::new(key, Operator::DoesNotExist, []);
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(key, Operator::Exists, []);
        }
        let operator = match self.next() {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::Identifier(word) if word == "in" => Operator::In,
            Token::Identifier(word) if word == "notin" => Operator::NotIn,
            other => return Err(syntax(&other, "in, notin, =, ==, !=, gt, lt")),
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        Requirement::new(key, operator, values)
    }

    /// The value after `=`, `!=` ...: empty when the requirement ends right away.
    fn exact_value(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Token::End | Token::Comma => Ok(String::new()),
            Token::Identifier(_) => match self.next() {
                Token::Identifier(value) => Ok(value),
                other => Err(syntax(&other, "identifier")),
            },
            other => Err(syntax(other, "identifier")),
        }
    }

    /// `( a, b )`. Empty slots (`()`, `(a,)`, `(,a)`) stand for the empty
    /// value, as apimachinery reads them.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::OpenParen => {}
            other => return Err(syntax(&other, "'('")),
        }
        let mut values = Vec::new();
        let mut expecting_value = true;
        loop {
            match self.next() {
                Token::Identifier(value) if expecting_value => {
                    values.push(value);
                    expecting_value = false;
                }
                Token::Comma => {
                    if expecting_value {
                        values.push(String::new());
                    }
                    expecting_value = true;
                }
                Token::CloseParen => {
                    if expecting_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other if expecting_value => return Err(syntax(&other, "',', ')' or identifier")),
                other => return Err(syntax(&other, "',' or ')'")),
            }
        }
    }
}

/// Parses a whole selector into its requirements, in input order.
pub(super) fn parse(input: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut parser = Parser { tokens: tokenize(input), pos: 0 };
    let mut requirements = Vec::new();
    loop {
        match parser.peek() {
            Token::End => return Ok(requirements),
            Token::Identifier(_) | Token::Bang => {}
            other => {
                return Err(SelectorError::Trailing {
                    found: other.literal().to_string(),
                    expected: "!, identifier, or 'end of string'",
                })
            }
        }
        requirements.push(parser.requirement()?);
        match parser.next() {
            Token::End => return Ok(requirements),
            Token::Comma if matches!(parser.peek(), Token::Identifier(_) | Token::Bang) => {}
            Token::Comma => {
                return Err(SelectorError::Trailing {
                    found: parser.peek().literal().to_string(),
                    expected: "identifier after ','",
                })
            }
            other => {
                return Err(SelectorError::Trailing {
                    found: other.literal().to_string(),
                    expected: "',' or 'end of string'",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> String {
        match parse(input) {
            Ok(r) => panic!("{input:?} parsed as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn shown(input: &str) -> Vec<String> {
        parse(input).expect(input).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_every_operator() {
        assert_eq!(
            shown("a=1,b==2,c!=3,d in (x,y),e notin (z),f,!g,h>4,i<5"),
            ["a=1", "b==2", "c!=3", "d in (x,y)", "e notin (z)", "f", "!g", "h>4", "i<5"]
        );
    }

    #[test]
    fn tolerates_whitespace_and_keyword_values() {
        assert_eq!(shown(" a = b ,  c  in  ( x , y ) "), ["a=b", "c in (x,y)"]);
        assert_eq!(shown("a=in,b=notin"), ["a=in", "b=notin"]);
    }

    #[test]
    fn empty_slots_in_sets_are_empty_values() {
        assert_eq!(shown("a in ()"), ["a in ()"]);
        assert_eq!(shown("a in (x,)"), ["a in (,x)"]);
        assert_eq!(shown("a="), ["a="]);
    }

    #[test]
    fn syntax_errors_name_the_bad_token() {
        assert_eq!(err("a in x"), "unable to parse requirement: found 'x', expected: '('");
        assert_eq!(err("(a)"), "found '(', expected: !, identifier, or 'end of string'");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a foo b"), "unable to parse requirement: found 'foo', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(err("a in (x y)"), "unable to parse requirement: found 'y', expected: ',' or ')'");
        assert_eq!(err("a in (x"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(err("a=(b)"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("!"), "unable to parse requirement: found '', expected: identifier");
    }

    #[test]
    fn invalid_keys_and_values_are_named() {
        assert!(err("-bad=x").starts_with("unable to parse requirement: invalid label key \"-bad\""));
        assert!(err("a=b!c").contains("found '!'"));
        assert!(err("a=-x").starts_with("unable to parse requirement: invalid label value: \"-x\": at key: \"a\""));
        assert!(err("a in (ok,no_)").contains("\"no_\""));
    }
}
