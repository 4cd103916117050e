/* Linux x86-64 system calls for cvm-workloads (numbers from arch/x86/entry/syscalls/syscall_64.tbl). */
#ifndef UK_LINUX_H
#define UK_LINUX_H
#include <stdint.h>

static inline long uk_syscall(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return ret;
}

static inline long uk_sys_write(int fd, const void *p, uint64_t n) { return uk_syscall(1, fd, (long)p, (long)n, 0, 0, 0); }
static inline void uk_sys_exit(int code) { uk_syscall(231, code, 0, 0, 0, 0, 0); }
/* Anonymous private read-write memory; faults in page by page on first touch. */
static inline void *uk_sys_mmap(uint64_t n) {
    long r = uk_syscall(9, 0, (long)n, 3, 0x22, -1, 0);
    return (r < 0 && r > -4096) ? 0 : (void *)r;
}
static inline long uk_sys_munmap(void *p, uint64_t n) { return uk_syscall(11, (long)p, (long)n, 0, 0, 0, 0); }
static inline long uk_sys_ioperm(uint64_t from, uint64_t count, int on) { return uk_syscall(173, (long)from, (long)count, on, 0, 0, 0); }
static inline long uk_sys_open_read(const char *path) { return uk_syscall(257, -100, (long)path, 0, 0, 0, 0); }
static inline long uk_sys_pread(int fd, void *p, uint64_t n, uint64_t offset) { return uk_syscall(17, fd, (long)p, (long)n, (long)offset, 0, 0); }
static inline long uk_sys_close(int fd) { return uk_syscall(3, fd, 0, 0, 0, 0, 0); }
static inline uint64_t uk_monotonic_ns(void) {
    struct { int64_t sec, nsec; } ts = { 0, 0 };
    uk_syscall(228, 1, (long)&ts, 0, 0, 0, 0);   /* clock_gettime(CLOCK_MONOTONIC) */
    return (uint64_t)ts.sec * 1000000000ull + (uint64_t)ts.nsec;
}
/* One MSR read through the msr driver: a system call plus the rdmsr it issues. */
static inline long uk_read_msr_file(int fd, uint32_t msr) {
    uint64_t value;
    return uk_sys_pread(fd, &value, 8, msr);
}
#endif
