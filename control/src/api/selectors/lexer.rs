//! Tokenizer for the label selector string syntax.
//!
//! Keywords (`in`, `notin`) are not recognised here: apimachinery treats them
//! as keywords only where an operator is expected, so `a=in` is a valid
//! selector. The parser makes that call; the lexer only sees identifiers.

/// One token of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// A key, a value or a keyword: a run of characters that are neither
    /// whitespace nor one of the special symbols.
    Identifier(String),
    /// `!`
    Bang,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `>`
    GreaterThan,
    /// `<`
    LessThan,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `,`
    Comma,
    /// End of the input.
    End,
}

impl Token {
    /// The token as it appeared in the input, for error messages.
    pub(super) fn literal(&self) -> &str {
        match self {
            Token::Identifier(s) => s,
            Token::Bang => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::OpenParen => "(",
            Token::CloseParen => ")",
            Token::Comma => ",",
            Token::End => "",
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits `input` into tokens, always ending with [`Token::End`].
/// Lexing cannot fail: every character is either whitespace, a special
/// symbol (each of which is a token on its own) or part of an identifier.
pub(super) fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().map(|&(_, n)| n);
            let token = match (c, next) {
                ('=', Some('=')) => {
                    chars.next();
                    Token::DoubleEquals
                }
                ('!', Some('=')) => {
                    chars.next();
                    Token::NotEquals
                }
                ('=', _) => Token::Equals,
                ('!', _) => Token::Bang,
                ('>', _) => Token::GreaterThan,
                ('<', _) => Token::LessThan,
                ('(', _) => Token::OpenParen,
                (')', _) => Token::CloseParen,
                _ => Token::Comma,
            };
            tokens.push(token);
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, n)) = chars.peek() {
            if n.is_whitespace() || is_special(n) {
                end = i;
                break;
            }
            chars.next();
        }
        tokens.push(Token::Identifier(input[start..end].to_string()));
    }
    tokens.push(Token::End);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Token {
        Token::Identifier(s.to_string())
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            tokenize("a==b,c!=d,!e"),
            vec![id("a"), Token::DoubleEquals, id("b"), Token::Comma, id("c"), Token::NotEquals, id("d"),
                 Token::Comma, Token::Bang, id("e"), Token::End]
        );
    }

    #[test]
    fn whitespace_separates_and_keywords_stay_identifiers() {
        assert_eq!(
            tokenize("  env in\t(a, b) "),
            vec![id("env"), id("in"), Token::OpenParen, id("a"), Token::Comma, id("b"), Token::CloseParen, Token::End]
        );
    }

    #[test]
    fn equals_before_paren_is_two_tokens() {
        assert_eq!(tokenize("a=("), vec![id("a"), Token::Equals, Token::OpenParen, Token::End]);
        assert_eq!(tokenize(""), vec![Token::End]);
    }
}
