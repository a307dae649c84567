//! Process-wide allocator settings for whole-tree runs.
//!
//! Reading a tree allocates a few large, short-lived buffers (the
//! decompressed image of a big module: 28 MB for amdgpu) between many
//! small, long-lived ones (each module's symbols and aliases). glibc's
//! malloc raises its mmap threshold after the first large buffer is freed,
//! so later large buffers come from the heap, and the small allocations
//! that land after them keep those pages resident: on three times a Debian
//! tree, peak memory grew by 40 MB more than the data kept. A fixed
//! threshold makes every buffer of 2 MiB or more its own mapping, returned
//! to the system when freed (and grown with `mremap`, without copying).

/// Allocations of this size or more are separate mappings.
const MMAP_THRESHOLD: usize = 2 << 20;

/// Applies the settings. Call once, early, from the binary (the library
/// never changes process-wide state by itself). Does nothing on C
/// libraries other than glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Gives the pages that freed allocations left wholly unused back to the
/// system (glibc's `malloc_trim`). depmod calls it between resolving and
/// rendering, when every module's symbol lists have just been freed: the
/// renderers' large buffers are fresh mappings that would not reuse them.
/// Does nothing on C libraries other than glibc.
pub fn return_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
