/*
 * cvm-init: PID 1 of CVMKit guests (the minimal Linux guest and container images).
 *
 * Protocol (see guest/init/README.md): mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /run and
 * configfs; checks that the initramfs was unpacked completely; loads the modules listed in
 * /.cvm/modules; runs the command from the kernel command line (cvm.run= / cvm.run64=) or the one in
 * /.cvm/config; prints "cvm-init:" markers with boot-time stamps on the console; powers off and hands
 * the exit code to the host through QEMU's isa-debug-exit device (port 0xf4). A press of the ACPI power
 * button (QMP system_powerdown, virsh shutdown) ends the command and powers off.
 *
 * Built by `cvm image build` with: gcc -static -Os -s (glibc); no NSS, no dynamic loading.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <linux/input.h>
#include <net/route.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INIT_VERSION "1"
#define EXIT_PORT 0xf4
/* Exit codes of the init itself (the command's own code is passed through unchanged). */
#define CODE_INIT_ERROR 120
#define CODE_TRUNCATED 121
#define CODE_ATTESTATION 122
#define ATTEST_HELPER "/.cvm/attest"
#define SECRETS_DIR "/run/secrets"
#define MAX_ITEMS 4096
#define MAX_LINE 65536

static char cmdline[8192];

static double uptime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line on the console: "cvm-init: t=SECONDS EVENT [details]". */
static void mark(const char *event, const char *fmt, ...) {
    char details[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(details, sizeof details, fmt, ap);
        va_end(ap);
    }
    dprintf(1, "cvm-init: t=%.6f %s%s%s\n", uptime(), event, details[0] ? " " : "", details);
}

static void power_off(int code) {
    mark("poweroff", "code=%d", code);
    sync();
    if (ioperm(EXIT_PORT, 4, 1) == 0) outb((unsigned char)code, EXIT_PORT);
    /* No isa-debug-exit device: a plain power-off (QEMU then exits with status 0). */
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void ensure_dir(const char *path, mode_t mode) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') { *p = 0; mkdir(buf, mode); *p = '/'; }
    }
    mkdir(buf, mode);
}

static void mount_fs(const char *source, const char *target, const char *type, unsigned long flags,
                     const char *data) {
    ensure_dir(target, 0755);
    if (mount(source, target, type, flags, data) != 0 && errno != EBUSY)
        mark("mount-failed", "target=%s type=%s error=\"%s\"", target, type, strerror(errno));
}

static int has_filesystem(const char *name) {
    char buf[4096];
    int fd = open("/proc/filesystems", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strrchr(line, '\t');
        if (strcmp(tab ? tab + 1 : line, name) == 0) return 1;
    }
    return 0;
}

static int read_file(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t total = 0;
    ssize_t n;
    while (total + 1 < size && (n = read(fd, buf + total, size - 1 - total)) > 0) total += (size_t)n;
    close(fd);
    buf[total] = 0;
    return (int)total;
}

/* Kernel command line: space-separated words; double quotes group spaces and are removed. */
static int cmdline_value(const char *key, char *out, size_t size) {
    size_t keylen = strlen(key);
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t') p++;
        if (!*p) break;
        char word[sizeof cmdline];
        size_t w = 0;
        int quoted = 0;
        while (*p && (quoted || (*p != ' ' && *p != '\n' && *p != '\t'))) {
            if (*p == '"') quoted = !quoted;
            else if (w + 1 < sizeof word) word[w++] = *p;
            p++;
        }
        word[w] = 0;
        if (strncmp(word, key, keylen) == 0 && word[keylen] == '=') {
            snprintf(out, size, "%s", word + keylen + 1);
            return 1;
        }
    }
    return 0;
}

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes standard or URL-safe base64 (padding optional); returns the length or -1. */
static int base64_decode(const char *in, char *out, size_t size) {
    size_t o = 0;
    unsigned int acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = base64_value(*in);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= size) return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = 0;
    return (int)o;
}

/* /.cvm/config: one "key value" per line; values use \\ \n \t \xHH escapes. */
struct config {
    char *argv[MAX_ITEMS];
    int argc;
    char *env[MAX_ITEMS];
    int envc;
    char *workdir;
    char *user;
    char *console;
    char *shell;
    char *hostname;
    char *attest_url;
    char *attest_key;
};

static char *unescape(const char *s) {
    char *out = malloc(strlen(s) + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) { out[o++] = *s; continue; }
        s++;
        if (*s == 'n') out[o++] = '\n';
        else if (*s == 't') out[o++] = '\t';
        else if (*s == 'x' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            s += 2;
        } else out[o++] = *s;
    }
    out[o] = 0;
    return out;
}

static void read_config(struct config *cfg) {
    static char buf[1 << 20];
    memset(cfg, 0, sizeof *cfg);
    if (read_file("/.cvm/config", buf, sizeof buf) < 0) return;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *space = strchr(line, ' ');
        char *value = unescape(space ? space + 1 : "");
        if (space) *space = 0;
        if (!value) continue;
        if (strcmp(line, "argv") == 0 && cfg->argc < MAX_ITEMS - 1) cfg->argv[cfg->argc++] = value;
        else if (strcmp(line, "env") == 0 && cfg->envc < MAX_ITEMS - 8) cfg->env[cfg->envc++] = value;
        else if (strcmp(line, "workdir") == 0) cfg->workdir = value;
        else if (strcmp(line, "user") == 0) cfg->user = value;
        else if (strcmp(line, "console") == 0) cfg->console = value;
        else if (strcmp(line, "shell") == 0) cfg->shell = value;
        else if (strcmp(line, "hostname") == 0) cfg->hostname = value;
        else if (strcmp(line, "attest-url") == 0) cfg->attest_url = value;
        else if (strcmp(line, "attest-key") == 0) cfg->attest_key = value;
        else free(value);
    }
}

static void load_modules(void) {
    static char buf[1 << 16];
    if (read_file("/.cvm/modules", buf, sizeof buf) < 0) return;
    int loaded = 0, failed = 0;
    for (char *path = strtok(buf, "\n"); path; path = strtok(NULL, "\n")) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        long rc = fd < 0 ? -1 : syscall(SYS_finit_module, fd, "", 0);
        int err = errno;
        if (fd >= 0) close(fd);
        if (rc == 0 || err == EEXIST) {
            loaded++;
            mark("module", "name=%s result=loaded", base);
        } else {
            failed++;
            mark("module", "name=%s result=failed error=\"%s\"", base, strerror(err));
        }
    }
    mark("modules-done", "loaded=%d failed=%d", loaded, failed);
}

/* Looks NAME up in a passwd/group style file: field 3 is the id, 4 the group id, 6 the home directory. */
static int lookup_id(const char *file, const char *name, long *id, long *gid, char *home, size_t homesize) {
    static char buf[1 << 18];
    if (read_file(file, buf, sizeof buf) < 0) return 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[7] = {0};
        int n = 0;
        for (char *f = line; f && n < 7; n++) {
            fields[n] = f;
            f = strchr(f, ':');
            if (f) *f++ = 0;
        }
        if (n < 3) continue;
        char *end;
        long value = strtol(fields[2], &end, 10);
        if (strcmp(fields[0], name) == 0 || (*id >= 0 && value == *id && *end == 0)) {
            *id = value;
            if (gid) *gid = n >= 4 ? strtol(fields[3], NULL, 10) : value;
            if (home && n >= 6) snprintf(home, homesize, "%s", fields[5]);
            return 1;
        }
    }
    return 0;
}

/* "user", "uid", "user:group" or "uid:gid" as in an OCI image config; numeric ids need no entry. */
static int resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *home, size_t homesize) {
    char user[256], group[256] = "";
    snprintf(user, sizeof user, "%s", spec);
    char *colon = strchr(user, ':');
    if (colon) { *colon = 0; snprintf(group, sizeof group, "%s", colon + 1); }
    char *end;
    long u = strtol(user, &end, 10), g;
    if (*end || !user[0]) {
        u = -1;
        if (!lookup_id("/etc/passwd", user, &u, &g, home, homesize)) return -1;
    } else if (!lookup_id("/etc/passwd", "", &u, &g, home, homesize)) {
        g = u;
    }
    if (group[0]) {
        g = strtol(group, &end, 10);
        if (*end || !group[0]) {
            g = -1;
            if (!lookup_id("/etc/group", group, &g, NULL, NULL, 0)) return -1;
        }
    }
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

static const char *env_get(char **env, int envc, const char *name) {
    size_t len = strlen(name);
    for (int i = 0; i < envc; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') return env[i] + len + 1;
    return NULL;
}

/* execve with a PATH search taken from the command's own environment. */
static void exec_command(char **argv, char **env, int envc) {
    if (strchr(argv[0], '/')) { execve(argv[0], argv, env); return; }
    const char *path = env_get(env, envc, "PATH");
    char copy[4096], candidate[4096];
    snprintf(copy, sizeof copy, "%s", path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    int saved = ENOENT;
    for (char *dir = strtok(copy, ":"); dir; dir = strtok(NULL, ":")) {
        snprintf(candidate, sizeof candidate, "%s/%s", dir, argv[0]);
        execve(candidate, argv, env);
        if (errno != ENOENT) saved = errno;
    }
    errno = saved;
}

/* Set by SIGUSR1, which the power-button watcher sends to PID 1. */
static volatile sig_atomic_t power_button_pressed;

static void on_power_button(int signo) {
    (void)signo;
    power_button_pressed = 1;
}

/* The ACPI power button is an input device (drivers/acpi/button.c, module "button") named "Power
 * Button"; evdev gives it /dev/input/eventN. A child process blocks on it and, when KEY_POWER goes
 * down, signals PID 1, so the main loop keeps its plain wait(). */
static void watch_power_button(void) {
    DIR *dir = opendir("/sys/class/input");
    if (!dir) { mark("power-button", "status=absent reason=\"no /sys/class/input\""); return; }
    char device[300] = "";
    struct dirent *entry;
    while ((entry = readdir(dir)) && !device[0]) {
        if (strncmp(entry->d_name, "event", 5) != 0) continue;
        char path[512], name[128];
        snprintf(path, sizeof path, "/sys/class/input/%s/device/name", entry->d_name);
        if (read_file(path, name, sizeof name) < 0) continue;
        name[strcspn(name, "\n")] = 0;
        if (strcmp(name, "Power Button") == 0) snprintf(device, sizeof device, "/dev/input/%s", entry->d_name);
    }
    closedir(dir);
    if (!device[0]) { mark("power-button", "status=absent reason=\"no input device named Power Button\""); return; }
    int fd = open(device, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { mark("power-button", "status=absent device=%s error=\"%s\"", device, strerror(errno)); return; }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_power_button;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, NULL); /* no SA_RESTART: wait() returns EINTR */
    pid_t watcher = fork();
    if (watcher < 0) { close(fd); mark("power-button", "status=absent error=\"fork: %s\"", strerror(errno)); return; }
    if (watcher > 0) { close(fd); mark("power-button", "status=watching device=%s", device); return; }
    signal(SIGUSR1, SIG_DFL);
    struct input_event event;
    while (read(fd, &event, sizeof event) == (ssize_t)sizeof event || errno == EINTR) {
        if (event.type == EV_KEY && event.code == KEY_POWER && event.value == 1) {
            kill(1, SIGUSR1);
            _exit(0);
        }
    }
    _exit(1);
}

/* Brings up lo and, when the guest has one, eth0 with QEMU user networking's fixed addresses
 * (10.0.2.15/24, gateway 10.0.2.2, which forwards to the host's loopback). */
static int set_address(int fd, const char *name, unsigned long request, const char *address) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, address, &sin->sin_addr);
    return ioctl(fd, request, &ifr);
}

static int interface_up(int fd, const char *name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

static void configure_network(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { mark("network", "status=failed error=\"%s\"", strerror(errno)); return; }
    interface_up(fd, "lo");
    struct stat st;
    if (stat("/sys/class/net/eth0", &st) != 0) {
        mark("network", "iface=none");
        close(fd);
        return;
    }
    int rc = set_address(fd, "eth0", SIOCSIFADDR, "10.0.2.15");
    if (rc == 0) rc = set_address(fd, "eth0", SIOCSIFNETMASK, "255.255.255.0");
    if (rc == 0) rc = interface_up(fd, "eth0");
    if (rc == 0) {
        struct rtentry route;
        memset(&route, 0, sizeof route);
        struct sockaddr_in *gateway = (struct sockaddr_in *)&route.rt_gateway;
        gateway->sin_family = AF_INET;
        inet_pton(AF_INET, "10.0.2.2", &gateway->sin_addr);
        ((struct sockaddr_in *)&route.rt_dst)->sin_family = AF_INET;
        ((struct sockaddr_in *)&route.rt_genmask)->sin_family = AF_INET;
        route.rt_flags = RTF_UP | RTF_GATEWAY;
        route.rt_dev = "eth0";
        rc = ioctl(fd, SIOCADDRT, &route);
    }
    if (rc == 0) mark("network", "iface=eth0 address=10.0.2.15/24 gateway=10.0.2.2");
    else mark("network", "iface=eth0 status=failed error=\"%s\"", strerror(errno));
    close(fd);
}

/* Runs the attestation helper (/.cvm/attest, see cvm-attest.c) when the config names a relying party:
 * its secrets land in /run/secrets. Any failure powers off with CODE_ATTESTATION before the command. */
static void attest(struct config *cfg) {
    if (!cfg->attest_url) return;
    if (!cfg->attest_key) {
        mark("attestation-failed", "code=%d reason=\"attest-url without attest-key in /.cvm/config\"", CODE_ATTESTATION);
        power_off(CODE_ATTESTATION);
    }
    mark("attestation-start", "url=%s", cfg->attest_url);
    pid_t child = fork();
    if (child == 0) {
        char *argv[] = { ATTEST_HELPER, "run", "--url", cfg->attest_url, "--rp-key", cfg->attest_key,
                         "--secrets", SECRETS_DIR, NULL };
        execv(ATTEST_HELPER, argv);
        dprintf(2, "cvm-init: cannot run %s: %s\n", ATTEST_HELPER, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    int code = child < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0) {
        const char *why = code == 3 ? "refused by the relying party" : code == 4 ? "relying party unreachable"
                        : code == 5 ? "bad answer from the relying party" : code == 6 ? "a secret did not open or could not be stored"
                        : "the attestation helper failed";
        mark("attestation-failed", "code=%d helper=%d reason=\"%s; the container does not start\"", CODE_ATTESTATION, code, why);
        power_off(CODE_ATTESTATION);
    }
    mark("attestation-ok", "secrets=%s", SECRETS_DIR);
}

/* The released secrets belong to the command's user (files stay 0600). */
static void own_secrets(uid_t uid, gid_t gid) {
    DIR *dir = opendir(SECRETS_DIR);
    if (!dir) return;
    if (chown(SECRETS_DIR, uid, gid) != 0) mark("error", "message=\"chown " SECRETS_DIR ": %s\"", strerror(errno));
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        if (entry->d_name[0] == '.') continue;
        if (fchownat(dirfd(dir), entry->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            mark("error", "message=\"chown %s: %s\"", entry->d_name, strerror(errno));
    }
    closedir(dir);
}

static int run_command(struct config *cfg) {
    static char decoded[sizeof cmdline];
    char value[sizeof cmdline];
    char *shell_argv[4];
    char **argv = NULL;
    const char *shell = cfg->shell ? cfg->shell : "/bin/sh";
    if (cmdline_value("cvm.run64", value, sizeof value)) {
        if (base64_decode(value, decoded, sizeof decoded) < 0) {
            mark("error", "message=\"cvm.run64 is not valid base64\"");
            return CODE_INIT_ERROR;
        }
    } else if (cmdline_value("cvm.run", value, sizeof value)) {
        snprintf(decoded, sizeof decoded, "%s", value);
    }
    if (decoded[0]) {
        shell_argv[0] = (char *)shell;
        shell_argv[1] = "-c";
        shell_argv[2] = decoded;
        shell_argv[3] = NULL;
        argv = shell_argv;
    } else if (cfg->argc > 0) {
        cfg->argv[cfg->argc] = NULL;
        argv = cfg->argv;
    } else {
        mark("error", "message=\"no command: give cvm.run= on the kernel command line or argv in /.cvm/config\"");
        return CODE_INIT_ERROR;
    }

    /* Environment: the configured one, then defaults for what it leaves out. */
    uid_t uid = 0;
    gid_t gid = 0;
    char home[256] = "/root";
    if (cfg->user) snprintf(home, sizeof home, "/");
    if (cfg->user && resolve_user(cfg->user, &uid, &gid, home, sizeof home) != 0) {
        mark("error", "message=\"user '%s' not found in /etc/passwd or /etc/group\"", cfg->user);
        return CODE_INIT_ERROR;
    }
    if (cfg->attest_url) own_secrets(uid, gid);
    char **env = cfg->env;
    int envc = cfg->envc;
    if (!env_get(env, envc, "PATH")) env[envc++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    if (!env_get(env, envc, "HOME")) {
        static char homevar[300];
        snprintf(homevar, sizeof homevar, "HOME=%s", home);
        env[envc++] = homevar;
    }
    if (!env_get(env, envc, "TERM")) env[envc++] = "TERM=linux";
    env[envc] = NULL;

    char consolearg[256];
    const char *console = cfg->console;
    if (cmdline_value("cvm.console", consolearg, sizeof consolearg)) console = consolearg;
    char device[300] = "/dev/console";
    if (console && console[0] && strcmp(console, "console") != 0)
        snprintf(device, sizeof device, "%s%s", console[0] == '/' ? "" : "/dev/", console);
    int tty = open(device, O_RDWR | O_NOCTTY);
    if (tty < 0) {
        mark("console-fallback", "device=%s error=\"%s\"", device, strerror(errno));
        snprintf(device, sizeof device, "/dev/console");
        tty = open(device, O_RDWR | O_NOCTTY);
    }

    const char *workdir = cfg->workdir && cfg->workdir[0] ? cfg->workdir : "/";
    mark("run-start", "argv0=%s console=%s workdir=%s uid=%d gid=%d", argv[0], device, workdir, (int)uid, (int)gid);
    pid_t child = fork();
    if (child < 0) {
        mark("error", "message=\"fork failed: %s\"", strerror(errno));
        return CODE_INIT_ERROR;
    }
    if (child == 0) {
        setsid();
        if (tty >= 0) {
            dup2(tty, 0); dup2(tty, 1); dup2(tty, 2);
            if (tty > 2) close(tty);
            ioctl(0, TIOCSCTTY, 0);
        }
        ensure_dir(workdir, 0755);
        if (chdir(workdir) != 0) {
            dprintf(2, "cvm-init: cannot enter working directory %s: %s\n", workdir, strerror(errno));
            _exit(CODE_INIT_ERROR);
        }
        if (uid != 0 || gid != 0) {
            if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
                dprintf(2, "cvm-init: cannot become %d:%d: %s\n", (int)uid, (int)gid, strerror(errno));
                _exit(CODE_INIT_ERROR);
            }
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        exec_command(argv, env, envc);
        int err = errno;
        dprintf(2, "cvm-init: cannot run %s: %s\n", argv[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    if (tty >= 0) close(tty);
    int code = CODE_INIT_ERROR;
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (power_button_pressed) {
            /* The command runs in its own session (setsid): end its whole process group. */
            mark("power-button", "status=pressed action=poweroff");
            kill(-child, SIGTERM);
            code = 128 + SIGTERM;
            break;
        }
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) break;
        if (pid == child) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
    }
    mark("run-exit", "code=%d", code);
    return code;
}

int main(void) {
    if (getpid() != 1) {
        fprintf(stderr, "cvm-init: must run as PID 1 (the guest's init)\n");
        return CODE_INIT_ERROR;
    }
    if (fcntl(1, F_GETFD) < 0) {
        int fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); if (fd > 2) close(fd); }
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    mark("init-start", "version=" INIT_VERSION);

    mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
    mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    ensure_dir("/tmp", 01777);
    chmod("/tmp", 01777);
    mark("mounts-done", NULL);

    /* The archive's last entry: if it is missing, unpacking stopped early (too little guest memory). */
    char complete[256];
    if (read_file("/.cvm/complete", complete, sizeof complete) < 0) {
        mark("initramfs-truncated", "message=\"the initramfs was not unpacked completely (its last entry /.cvm/complete is missing); "
             "the guest memory is probably too small for this initrd: give the guest more memory\"");
        power_off(CODE_TRUNCATED);
    }
    complete[strcspn(complete, "\n")] = 0;
    mark("initramfs-ok", "%s", complete);

    if (read_file("/proc/cmdline", cmdline, sizeof cmdline) < 0) cmdline[0] = 0;
    cmdline[strcspn(cmdline, "\n")] = 0;
    char flag[16];
    if (!(cmdline_value("cvm.modules", flag, sizeof flag) && strcmp(flag, "0") == 0)) load_modules();
    watch_power_button();
    if (has_filesystem("configfs")) mount_fs("configfs", "/sys/kernel/config", "configfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

    struct stat st;
    mark("attestation", "sev-guest=%s tsm-report=%s",
         stat("/dev/sev-guest", &st) == 0 ? "present" : "absent",
         stat("/sys/kernel/config/tsm/report", &st) == 0 ? "present" : "absent");

    struct config cfg;
    read_config(&cfg);
    const char *hostname = cfg.hostname ? cfg.hostname : "cvm";
    sethostname(hostname, strlen(hostname));
    configure_network();
    attest(&cfg);
    int code = run_command(&cfg);
    power_off(code);
    return 0;
}
