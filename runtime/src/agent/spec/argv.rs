//! A container's argv as Kubernetes defines it: `command` replaces the image's
//! entrypoint, `args` replace its cmd, and `$(VAR)` references in either are
//! expanded from the container's environment.

use std::collections::HashMap;

/// The image's own entrypoint and cmd (from its OCI config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageCommand {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// Combines the pod's `command`/`args` with the image's entrypoint/cmd, then
/// expands `$(VAR)` from `env`. Kubernetes' rules: a `command` makes the image
/// cmd irrelevant too; `args` alone keep the image entrypoint.
pub fn resolve_argv(
    command: Option<&[String]>,
    args: Option<&[String]>,
    image: &ImageCommand,
    env: &HashMap<String, String>,
) -> Vec<String> {
    let (head, tail): (&[String], &[String]) = match (command, args) {
        (Some(command), Some(args)) => (command, args),
        (Some(command), None) => (command, &[]),
        (None, Some(args)) => (&image.entrypoint, args),
        (None, None) => (&image.entrypoint, &image.cmd),
    };
    // Only the pod's own strings are expanded; the image's are taken literally, as kubelet does.
    let expand_command = command.is_some();
    let expand_args = args.is_some();
    let head = head.iter().map(|s| if expand_command { expand(s, env) } else { s.clone() });
    let tail = tail.iter().map(|s| if expand_args { expand(s, env) } else { s.clone() });
    head.chain(tail).collect()
}

/// Expands `$(NAME)` with `lookup`'s value. `$$` is an escaped `$`; a
/// reference to an undefined name, or an unterminated one, stays as written.
pub fn expand(input: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(close) => {
                    let name = &body[..close];
                    match env.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn image() -> ImageCommand {
        ImageCommand { entrypoint: strings(&["/entry"]), cmd: strings(&["--default"]) }
    }

    #[test]
    fn image_decides_when_the_pod_says_nothing() {
        assert_eq!(resolve_argv(None, None, &image(), &HashMap::new()), strings(&["/entry", "--default"]));
    }

    #[test]
    fn command_replaces_entrypoint_and_drops_image_cmd() {
        let command = strings(&["/bin/run"]);
        assert_eq!(resolve_argv(Some(&command), None, &image(), &HashMap::new()), strings(&["/bin/run"]));
    }

    #[test]
    fn args_alone_keep_the_image_entrypoint() {
        let args = strings(&["-x"]);
        assert_eq!(resolve_argv(None, Some(&args), &image(), &HashMap::new()), strings(&["/entry", "-x"]));
    }

    #[test]
    fn command_and_args_both_replace() {
        let command = strings(&["a"]);
        let args = strings(&["b", "c"]);
        assert_eq!(resolve_argv(Some(&command), Some(&args), &image(), &HashMap::new()), strings(&["a", "b", "c"]));
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let env: HashMap<String, String> = [("NAME".to_string(), "world".to_string())].into();
        assert_eq!(expand("hello $(NAME)!", &env), "hello world!");
        assert_eq!(expand("$$(NAME)", &env), "$(NAME)");
        assert_eq!(expand("$(MISSING) $NAME", &env), "$(MISSING) $NAME");
        assert_eq!(expand("open $(NAME", &env), "open $(NAME");
        assert_eq!(expand("cost: 5$", &env), "cost: 5$");
    }

    #[test]
    fn image_strings_are_not_expanded() {
        let env: HashMap<String, String> = [("X".to_string(), "1".to_string())].into();
        let image = ImageCommand { entrypoint: strings(&["$(X)"]), cmd: vec![] };
        let args = strings(&["$(X)"]);
        assert_eq!(resolve_argv(None, Some(&args), &image, &env), strings(&["$(X)", "1"]));
    }
}
