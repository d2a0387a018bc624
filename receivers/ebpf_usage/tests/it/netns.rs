//! The kernel tests take turns: only one program set can hang off the cgroup root at a time.

pub use spider_testkit::netns::kernel_turn as privileged;
