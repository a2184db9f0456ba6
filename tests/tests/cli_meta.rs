//! Shell completions and man pages, made from each role binary's own argument definitions.

use handin_tests::*;

#[test]
fn every_role_binary_writes_its_completions_and_man_page() {
    for (bin, sub) in [
        ("cuhk", "roster"),
        ("blackboard", "assignment"),
        ("student", "submit"),
        ("staff", "collect"),
    ] {
        let mut c = cmd(bin);
        c.args(["completions", "bash"]);
        let bash = ok(c);
        assert!(bash.contains(&format!("_{bin}()")), "{bin}: {bash}");
        assert!(bash.contains(sub), "{bin} bash completion names {sub}");
        let mut c = cmd(bin);
        c.args(["completions", "zsh"]);
        assert!(ok(c).starts_with(&format!("#compdef {bin}")));
        let mut c = cmd(bin);
        c.arg("man");
        let man = ok(c);
        assert!(
            man.starts_with(".ie") || man.contains(".TH"),
            "{bin}: {man}"
        );
        assert!(man.contains(sub), "{bin} man page names {sub}");
        let mut c = cmd(bin);
        c.args(["completions", "tcsh"]);
        assert!(
            !run(c).status.success(),
            "an unknown shell is a usage error"
        );
    }
}
