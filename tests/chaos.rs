//! The chaos harness at CI size: 2,000 orders while processor instances are killed and
//! restarted and the order saga scales from one to three instances and back. The harness
//! checks its invariants itself and exits non-zero, listing them, when one breaks.

mod support;

use std::process::Command;

use support::{repo_root, stack_is_up};

#[test]
fn no_order_is_lost_or_doubled_while_processors_are_killed() {
    if !stack_is_up("chaos") {
        return;
    }
    // The run keeps its members' logs and state below its working folder, for the post-mortem.
    let workdir = repo_root().join("target/test-logs/chaos");
    std::fs::create_dir_all(&workdir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args([
            "chaos", "--orders", "2000", "--kills", "3", "--rate", "200", "--seed", "7",
        ])
        .current_dir(&workdir)
        .env("ORDERFLOW_TOPICS__ORDER_PARTITIONS", "3")
        .env("ORDERFLOW_TOPICS__SKU_PARTITIONS", "3")
        .output()
        .expect("orderflow chaos runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::write(workdir.join("stdout.log"), stdout.as_bytes());
    assert!(
        output.status.success(),
        "chaos run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("chaos: PASS"), "{stdout}");
    assert_eq!(stdout.matches("chaos: kill ").count(), 3, "{stdout}");
    assert!(
        stdout.contains("orders-1 joins") && stdout.contains("orders-2 leaves"),
        "{stdout}"
    );
}
