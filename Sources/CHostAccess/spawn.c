// fork + exec for the process layer (Sources/HostOS). posix_spawn cannot set PR_SET_PDEATHSIG, so the
// child is forked here and does only async-signal-safe calls before execve.
#define _GNU_SOURCE
#include "chostaccess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Reports errno to the parent through the close-on-exec pipe, then leaves without running atexit handlers.
static void child_fail(int report_fd, int code) {
    ssize_t ignored = write(report_fd, &code, sizeof code);
    (void)ignored;
    _exit(127);
}

// Descriptors 0-2 come from the caller; nothing else may leak into the child (a pipe end held by a
// forgotten child keeps another child's reader from ever seeing end of file).
static void close_on_exec_from_3(void) {
#if defined(__linux__) && defined(SYS_close_range)
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit < 0 || limit > 65536) limit = 65536;
    for (int fd = 3; fd < limit; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

int chost_spawn(const chost_spawn_request *request, pid_t *pid_out) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    pid_t parent = getpid();

    // Signals stay blocked across fork so no handler of ours runs in the child before exec.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        if (request->new_process_group && setpgid(0, 0) != 0) child_fail(report[1], errno);
#ifdef __linux__
        if (request->parent_death_signal != 0) {
            if (prctl(PR_SET_PDEATHSIG, request->parent_death_signal) != 0) child_fail(report[1], errno);
            // The parent may have died between fork and prctl: then no signal will ever come.
            if (getppid() != parent) _exit(127);
        }
#endif
        int fds[3] = { request->stdin_fd, request->stdout_fd, request->stderr_fd };
        for (int target = 0; target < 3; target++) {
            if (fds[target] < 0 || fds[target] == target) {
                // Kept as is: clear close-on-exec in case the caller's descriptor has it.
                if (fds[target] == target) fcntl(target, F_SETFD, 0);
                continue;
            }
            if (dup2(fds[target], target) < 0) child_fail(report[1], errno);
        }
        close_on_exec_from_3();
        // Dispositions set to "ignore" survive exec; the child starts with the defaults and no mask.
        for (int number = 1; number < NSIG; number++) {
            if (number == SIGKILL || number == SIGSTOP) continue;
            signal(number, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (request->directory && chdir(request->directory) != 0) child_fail(report[1], errno);
        execve(request->path, request->argv, request->envp);
        child_fail(report[1], errno);
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        return saved;
    }
    // Also from the parent, so the group exists before anyone signals it.
    if (request->new_process_group) setpgid(pid, pid);
    int code = 0;
    ssize_t got;
    do { got = read(report[0], &code, sizeof code); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof code) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return code;
    }
    *pid_out = pid;
    return 0;
}

int chost_wait_exit(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT); } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

int chost_reap(pid_t pid, int *exit_code, int *signal_number) {
    int status = 0;
    pid_t rc;
    do { rc = waitpid(pid, &status, 0); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -errno;
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 0;
}

int chost_parent_death_signal(void) {
#ifdef __linux__
    int value = 0;
    if (prctl(PR_GET_PDEATHSIG, &value) != 0) return -errno;
    return value;
#else
    return 0;
#endif
}

int chost_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}
