//! The completion scripts offer every command.

use super::*;

#[test]
fn completions_offer_every_command() {
    let commands = every_command();
    assert!(commands.len() > 15, "{commands:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for path in &commands {
            let name = path.last().expect("a name");
            // How each generator (clap_complete) spells a command it offers.
            let offered = match shell {
                "bash" => {
                    let parent: Vec<&str> = std::iter::once("tcpdoctor")
                        .chain(path[..path.len() - 1].iter().map(String::as_str))
                        .collect();
                    script.contains(&format!("{},{name})", parent.join("__subcmd__")))
                }
                "zsh" => script.contains(&format!("'{name}:")),
                _ => script.contains(&format!("-a \"{name}\"")),
            };
            assert!(
                offered,
                "{shell} completion does not offer `{}`",
                path.join(" ")
            );
        }
        // The script parses, where that shell is installed.
        let check: &[&str] = match shell {
            "bash" => &["bash", "-n"],
            "zsh" => &["zsh", "-n"],
            _ => &["fish", "--no-execute"],
        };
        let file = TempDir::new(&format!("compl-{shell}"));
        let path = file.join("script");
        std::fs::write(&path, &script).expect("write the script");
        if let Ok(o) = Command::new(check[0]).args(&check[1..]).arg(&path).output() {
            assert!(
                o.status.success(),
                "{shell} rejects `tcpdoctor completions {shell}`: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}
