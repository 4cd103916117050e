#define _GNU_SOURCE
#include "chostaccess.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/kvm.h>

int chost_read_msr(int cpu, uint32_t msr, uint64_t *value) {
    char path[64];
    snprintf(path, sizeof path, "/dev/cpu/%d/msr", cpu);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = pread(fd, value, sizeof *value, msr);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)sizeof *value) return n < 0 ? -saved : -EIO;
    return 0;
}

/* struct sev_issue_cmd from <linux/psp-sev.h>: u32 cmd; u64 data; u32 error (24 bytes with padding). */
struct chost_sev_issue_cmd {
    uint32_t cmd;
    uint64_t data;
    uint32_t error;
};
#define CHOST_SEV_ISSUE_CMD _IOWR('S', 0x0, struct chost_sev_issue_cmd)

int chost_sev_command(const char *device, uint32_t command, void *buffer, uint32_t *fw_error) {
    int fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct chost_sev_issue_cmd arg = { .cmd = command, .data = (uint64_t)(uintptr_t)buffer, .error = 0 };
    int rc = ioctl(fd, CHOST_SEV_ISSUE_CMD, &arg);
    int saved = errno;
    close(fd);
    if (fw_error) *fw_error = arg.error;
    return rc < 0 ? -saved : 0;
}

static void chost_alarm_handler(int sig) { (void)sig; }

static void fail(chost_kvm_probe *out, const char *step) {
    out->error_number = errno;
    snprintf(out->failed_step, sizeof out->failed_step, "%s", step);
}

void chost_kvm_probe_run(const char *device, int timeout_ms, chost_kvm_probe *out) {
    memset(out, 0, sizeof *out);
    out->port_value = -1;
    out->exit_reason = -1;
    int kvm = -1, vm = -1, vcpu = -1;
    void *mem = MAP_FAILED, *run_area = MAP_FAILED;
    size_t run_size = 0;

    kvm = open(device, O_RDWR | O_CLOEXEC);
    if (kvm < 0) { out->api_version = -errno; fail(out, "open"); return; }
    out->api_version = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (out->api_version < 0) { out->api_version = -errno; fail(out, "KVM_GET_API_VERSION"); goto done; }

    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) { fail(out, "KVM_CREATE_VM"); goto done; }
    out->vm_created = 1;

    mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) { fail(out, "mmap guest memory"); goto done; }
    /* mov al, 0x2a ; out 0x10, al ; hlt */
    const uint8_t code[] = { 0xb0, 0x2a, 0xe6, 0x10, 0xf4 };
    memcpy(mem, code, sizeof code);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000, .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) { fail(out, "KVM_SET_USER_MEMORY_REGION"); goto done; }

    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) { fail(out, "KVM_CREATE_VCPU"); goto done; }
    out->vcpu_created = 1;
    int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0) { fail(out, "KVM_GET_VCPU_MMAP_SIZE"); goto done; }
    run_size = (size_t)size;
    run_area = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run_area == MAP_FAILED) { fail(out, "mmap kvm_run"); goto done; }
    struct kvm_run *run = run_area;

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) { fail(out, "KVM_GET_SREGS"); goto done; }
    sregs.cs.base = 0; sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) { fail(out, "KVM_SET_SREGS"); goto done; }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = 0x1000;
    regs.rflags = 0x2;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) { fail(out, "KVM_SET_REGS"); goto done; }

    /* A signal interrupts KVM_RUN with EINTR, so a guest that never exits cannot hang the probe. */
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_handler = chost_alarm_handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, &previous);
    struct itimerval timer = { .it_interval = {0, 0}, .it_value = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 } };
    setitimer(ITIMER_REAL, &timer, NULL);
    for (int step = 0; step < 16; step++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) { fail(out, errno == EINTR ? "KVM_RUN (timeout)" : "KVM_RUN"); break; }
        out->exit_reason = (int)run->exit_reason;
        if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x10) {
            out->port_value = *((uint8_t *)run + run->io.data_offset);
            continue;
        }
        if (run->exit_reason == KVM_EXIT_HLT) {
            out->ran_to_halt = out->port_value == 0x2a;
            break;
        }
        errno = 0;
        snprintf(out->failed_step, sizeof out->failed_step, "unexpected exit %u", run->exit_reason);
        break;
    }
    struct itimerval off = { {0, 0}, {0, 0} };
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &previous, NULL);

done:
    if (run_area != MAP_FAILED) munmap(run_area, run_size);
    if (mem != MAP_FAILED) munmap(mem, 0x1000);
    if (vcpu >= 0) close(vcpu);
    if (vm >= 0) close(vm);
    if (kvm >= 0) close(kvm);
}
