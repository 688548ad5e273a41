//! The census streams: collecting N sockets into a `Census` allocates the
//! same small number of times whatever N is. A counting global allocator
//! proves it on real sockets. Needs root; skipped with a message otherwise.
//!
//! The allocator is the whole test binary's, and the other tests run
//! beside this one: it counts only the allocations of the thread that
//! collects (a census collects on the calling thread), so theirs do not
//! count.

use crate::support::converge;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tcpdoctor_core::collect::{self, ProcRoot, SocketQuery, SourceChoice};
use tcpdoctor_core::model::Census;
use tcpdoctor_testkit::netns::run_in_private_netns;
use tcpdoctor_testkit::states::build_established;

struct Counting;

thread_local! {
    // Const-initialized and without a destructor: reading it never
    // allocates, so the allocator may.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The calling thread's allocations so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A thread being torn down has no counter left: not counted.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
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
    let before = allocations();
    let mut c = Census::new(None);
    collect::collect_sockets(&ProcRoot::live(), &SocketQuery::default(), choice, &mut c)
        .expect("collects");
    std::hint::black_box(&c);
    allocations() - before
}

#[test]
#[ignore = "needs root"]
fn census_allocations_do_not_grow_with_the_number_of_sockets() {
    // Each census is counted on the thread that collects it, inside its
    // namespace: what other tests allocate meanwhile does not count.
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
    // Counted at all: a census allocates its buffers (a counter that saw
    // nothing would make the comparisons below vacuous).
    assert!(small.0 > 0 && small.1 > 0, "counted {small:?}");
    assert_eq!(
        small.0, large.0,
        "netlink: 21 vs 4001 sockets allocate alike"
    );
    assert!(large.0 < 50, "netlink census allocated {} times", large.0);
    assert_eq!(small.1, large.1, "/proc: 21 vs 4001 sockets allocate alike");
    assert!(large.1 < 50, "/proc census allocated {} times", large.1);
}
