//! Health on the Docker host: what the status says when a health check
//! fails, beyond `unhealthy`.

use crate::common::describe;
use crate::world::World;

#[test]
fn a_health_check_that_cannot_run_says_so_in_the_status() {
    let Some(world) = World::new("probe", &["probe"]) else {
        return;
    };
    let app = world.app("probe");
    world.commit(&[(
        "probe/Heliosfile",
        Some(&format!(
            "name: {app}\n\
             version: 1\n\
             services:\n\
             \x20 web:\n\
             \x20   image: {}\n\
             \x20   command: [sh, -c, \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n\
             \x20   healthcheck: {{ command: [/bin/no-such-probe], interval: 1s, timeout: 1s, retries: 1 }}\n",
            world.image
        )),
    )]);
    let output = world.run_once();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let status = world.status(&app);
    assert!(status.contains("result: degraded"), "{status}");
    assert!(status.contains("the health check cannot run"), "{status}");
    assert!(status.contains("no-such-probe"), "{status}");
}
