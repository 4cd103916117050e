#ifndef CHOSTACCESS_H
#define CHOSTACCESS_H
#include <stdint.h>
#include <stddef.h>

/// Result registers of one CPUID leaf/subleaf.
typedef struct {
    uint32_t eax, ebx, ecx, edx;
} chost_cpuid_regs;

/// Executes CPUID on the current CPU. Returns 0 on x86, -1 elsewhere (regs zeroed).
int chost_cpuid(uint32_t leaf, uint32_t subleaf, chost_cpuid_regs *out);

/// Reads a model-specific register through /dev/cpu/<cpu>/msr. Returns 0 or -errno.
int chost_read_msr(int cpu, uint32_t msr, uint64_t *value);

/// Issues one /dev/sev command (SEV_ISSUE_CMD) with `buffer` as its data.
/// Returns 0, or -errno when the ioctl failed; *fw_error receives the firmware status code.
int chost_sev_command(const char *device, uint32_t command, void *buffer, uint32_t *fw_error);

/// What the minimal KVM probe reached.
typedef struct {
    int api_version;       ///< KVM_GET_API_VERSION, or -errno when /dev/kvm could not be opened/queried
    int vm_created;        ///< 1 when KVM_CREATE_VM succeeded
    int vcpu_created;      ///< 1 when KVM_CREATE_VCPU succeeded
    int ran_to_halt;       ///< 1 when the guest wrote its marker to port 0x10 and then halted
    int port_value;        ///< the byte the guest wrote (0x2a expected), or -1
    int exit_reason;       ///< last KVM exit reason seen, or -1
    int error_number;      ///< errno of the step that failed, 0 when none did
    char failed_step[32];  ///< name of the step that failed, empty when none did
} chost_kvm_probe;

/// Opens `device` (normally /dev/kvm), creates a VM with one vCPU in real mode, runs four
/// instructions (mov al,0x2a; out 0x10,al; hlt) under a timeout of `timeout_ms`, and reports how far it got.
void chost_kvm_probe_run(const char *device, int timeout_ms, chost_kvm_probe *out);

#include <sys/types.h>

/// One child to start: descriptors become its 0, 1 and 2 (-1 keeps ours), argv and envp end with NULL.
typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *directory;     ///< working directory, NULL for ours
    int stdin_fd, stdout_fd, stderr_fd;
    int new_process_group;     ///< 1: the child leads a process group of its own (pgid = pid)
    int parent_death_signal;   ///< signal the kernel sends the child when the forking thread dies, 0 for none
} chost_spawn_request;

/// fork + execve with PR_SET_PDEATHSIG set in the child before exec (and the child gone at once if the
/// parent died before prctl). Linux sends the signal when the forking *thread* ends, so callers fork from
/// a thread that lives as long as the process. Returns 0 with *pid set, or the errno of the step that failed (exec included).
int chost_spawn(const chost_spawn_request *request, pid_t *pid_out);

/// Blocks until `pid` has exited without reaping it, so its pid (and group id) cannot be reused while
/// the caller may still signal them. Returns 0 or -errno.
int chost_wait_exit(pid_t pid);

/// Reaps `pid`: *exit_code is its exit status (-1 when killed), *signal_number the killing signal or 0.
int chost_reap(pid_t pid, int *exit_code, int *signal_number);

/// pipe2(O_CLOEXEC): no child forked meanwhile inherits either end. Returns 0 or -errno.
int chost_pipe_cloexec(int fds[2]);

/// PR_GET_PDEATHSIG of this process (tests run a child that reports its own), or -errno.
int chost_parent_death_signal(void);

/// Installs a handler for `number` that writes the signal number as one byte to `pipe_fd`. Returns 0 or -errno.
int chost_signal_forward(int number, int pipe_fd);

/// Restores the default action of `number`. Returns 0 or -errno.
int chost_signal_default(int number);

#endif
