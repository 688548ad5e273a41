//! The census streams: collecting N sockets into a `Census` allocates the
//! same small number of times whatever N is. A counting global allocator
//! proves it on real sockets. Needs root; skipped with a message otherwise.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use support::converge;
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::Census;
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_established;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_for_one_census(choice: SourceChoice) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut c = Census::new(None);
    collect::collect_sockets(&ProcRoot::live(), &SocketQuery::default(), choice, &mut c)
        .expect("collects");
    std::hint::black_box(&c);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
#[ignore = "needs root"]
fn census_allocations_do_not_grow_with_the_number_of_sockets() {
    // Both populations in one test: the counter is process-wide, so no
    // other test may run in this binary at the same time.
    let small = run_in_private_netns(|| {
        let pop = build_established(7600, 10).expect("builds");
        converge(&pop.expected);
        (
            allocations_for_one_census(SourceChoice::Netlink),
            allocations_for_one_census(SourceChoice::Proc),
        )
    })
    .expect("namespace");
    let large = run_in_private_netns(|| {
        let pop = build_established(7601, 2000).expect("builds");
        converge(&pop.expected);
        (
            allocations_for_one_census(SourceChoice::Netlink),
            allocations_for_one_census(SourceChoice::Proc),
        )
    })
    .expect("namespace");
    assert_eq!(
        small.0, large.0,
        "netlink: 21 vs 4001 sockets allocate alike"
    );
    assert!(large.0 < 50, "netlink census allocated {} times", large.0);
    assert_eq!(small.1, large.1, "/proc: 21 vs 4001 sockets allocate alike");
    assert!(large.1 < 50, "/proc census allocated {} times", large.1);
}
