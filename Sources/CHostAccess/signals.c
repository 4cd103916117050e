// The signal handler of the process layer's signal owner (Sources/HostOS/SignalOwner.swift): it only
// writes the signal number to a pipe, the one thing a handler may safely do; a thread reads the pipe.
#include "chostaccess.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile int signal_pipe_fd = -1;

static void forward_signal(int number) {
    int saved = errno;
    unsigned char byte = (unsigned char)number;
    if (signal_pipe_fd >= 0) {
        ssize_t ignored = write(signal_pipe_fd, &byte, 1);
        (void)ignored;
    }
    errno = saved;
}

int chost_signal_forward(int number, int pipe_fd) {
    signal_pipe_fd = pipe_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    action.sa_flags = SA_RESTART;
    sigfillset(&action.sa_mask);
    return sigaction(number, &action, NULL) == 0 ? 0 : -errno;
}

int chost_signal_default(int number) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    return sigaction(number, &action, NULL) == 0 ? 0 : -errno;
}
