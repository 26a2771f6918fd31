/*
 * Nexflow's in-container launcher: runs under docker-init (pid 1) in every sandbox container.
 * Built by the executor (launcher.py) as a static binary, so it works in any image, and
 * bind-mounted root-owned, mode 0111: the sandbox uid can execute it but not read it.
 *
 * A container is started before its call (the warm pool), so what the call runs cannot be
 * fixed at creation. The launcher waits on stdin for one header written by the executor:
 * a decimal byte count on its own line, then that many bytes, NUL-separated:
 *   NONCE \0 NAME=VALUE \0 ... \0 \0 INTERPRETER \0 ENTRYPOINT \0 ARGS \0 ...
 * It runs that argv as its child with exactly that environment; the child reads the rest
 * of stdin (the call's input): the header is read with exact-length reads, never past it.
 *
 * Confinement added here, on top of the container's (see container.py):
 * - the launcher makes itself non-dumpable, so the skill (same uid) cannot open its
 *   /proc/PID/mem or attach to it;
 * - the child puts itself in a Landlock domain before exec: reading, listing and writing
 *   are allowed beneath every top-level entry of / except /proc, so no mount table
 *   (/proc/self/mountinfo, /proc/1/mounts, ...) and no other process's files can be read;
 *   processes outside the domain (this launcher, docker-init) cannot be ptraced and,
 *   where the kernel has Landlock ABI 6, not signalled either.
 *
 * Pre-started interpreter (`launch --prestart PROGRAM ARGS...`, python containers): before
 * reading its header, the launcher starts PROGRAM (python running the stub, jail_stub.py)
 * as its child, Landlock-confined as below, with a fixed minimal environment and a pipe on
 * fd 3. Once the header arrives it passes the call's part on that pipe instead of exec'ing:
 * its length, "py", NUL, then the environment and argv fields exactly as received (the
 * interpreter's flags already left out by the executor); the stub then runs the script in
 * the waiting interpreter. The call still pays no interpreter start-up.
 *
 * When the script has exited, the launcher writes an end marker carrying the exit status
 * as the last bytes of stdout and of stderr: NUL, "nexflow-exit:", the per-call nonce
 * (never in the script's environment or argv), ":", the status, newline. The container
 * then idles until the executor kills it. Exit 125: malformed header; 126: the Landlock
 * domain could not be set up (the script never runs unconfined); 127: exec failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HEADER (4u << 20)
#define LL_CREATE_RULESET 444
#define LL_ADD_RULE 445
#define LL_RESTRICT_SELF 446
#define LL_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_WRITE_FILE (1ull << 1)
#define LL_READ_FILE (1ull << 2)
#define LL_READ_DIR (1ull << 3)
#define LL_TRUNCATE (1ull << 14)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)

struct ruleset_attr {
    __u64 handled_access_fs;
    __u64 handled_access_net;
    __u64 scoped;
};

struct path_beneath_attr {
    __u64 allowed_access;
    __s32 parent_fd;
} __attribute__((packed));

static void say(const char *what) {
    dprintf(2, "nexflow-launch: %s: %s\n", what, strerror(errno));
}

static int read_exact(char *buf, size_t len) {
    while (len > 0) {
        ssize_t got = read(0, buf, len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        buf += got;
        len -= (size_t)got;
    }
    return 0;
}

static long read_size(void) {
    long size = 0;
    int digits = 0;
    char c;
    for (;;) {
        if (read_exact(&c, 1) != 0)
            return -1;
        if (c == '\n')
            return digits ? size : -1;
        if (c < '0' || c > '9' || ++digits > 8)
            return -1;
        size = size * 10 + (c - '0');
    }
}

/* Splits `body` at NULs into an array; stops after an empty field (or at the end). */
static char **split(char **cursor, char *end, int stop_at_empty) {
    size_t cap = 16, n = 0;
    char **out = calloc(cap, sizeof *out);
    while (out && *cursor < end) {
        char *field = *cursor;
        *cursor += strnlen(field, (size_t)(end - field)) + 1;
        if (stop_at_empty && *field == '\0')
            break;
        if (n + 2 > cap) {
            cap *= 2;
            char **grown = realloc(out, cap * sizeof *out);
            if (!grown)
                return NULL;
            out = grown;
        }
        out[n++] = field;
    }
    if (out)
        out[n] = NULL;
    return out;
}

static int add_beneath(int ruleset, const char *path, __u64 dir_access, dev_t proc_dev) {
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return 0; /* a dangling link or a vanished entry: nothing to allow */
    if (fstat(fd, &st) != 0 || st.st_dev == proc_dev) {
        close(fd);
        return 0; /* a link into /proc grants nothing */
    }
    struct path_beneath_attr rule = {
        .allowed_access = S_ISDIR(st.st_mode) ? dir_access
                                              : dir_access & (LL_READ_FILE | LL_WRITE_FILE | LL_TRUNCATE),
        .parent_fd = fd,
    };
    int rc = (int)syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, &rule, 0);
    close(fd);
    return rc;
}

/* Everything beneath each top-level entry except /proc; then restrict this process. */
static int confine(void) {
    long abi = syscall(LL_CREATE_RULESET, NULL, 0, LL_VERSION);
    if (abi < 1)
        return -1;
    __u64 access = LL_READ_FILE | LL_READ_DIR | LL_WRITE_FILE | (abi >= 3 ? LL_TRUNCATE : 0);
    struct ruleset_attr attr = {.handled_access_fs = access};
    size_t attr_size = sizeof attr.handled_access_fs;
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_SIGNAL | LL_SCOPE_ABSTRACT_UNIX;
        attr_size = sizeof attr;
    }
    int ruleset = (int)syscall(LL_CREATE_RULESET, &attr, attr_size, 0);
    if (ruleset < 0)
        return -1;
    struct stat proc;
    if (stat("/proc", &proc) != 0)
        proc.st_dev = (dev_t)-1;
    DIR *root = opendir("/");
    if (!root)
        return -1;
    struct dirent *entry;
    char path[300];
    while ((entry = readdir(root)) != NULL) {
        const char *name = entry->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "proc"))
            continue;
        snprintf(path, sizeof path, "/%s", name);
        if (add_beneath(ruleset, path, access, proc.st_dev) != 0)
            return -1;
    }
    closedir(root);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return (int)syscall(LL_RESTRICT_SELF, ruleset, 0);
}

static void mark(int fd, const char *nonce, int status) {
    char line[256];
    int len = snprintf(line + 1, sizeof line - 1, "nexflow-exit:%s:%d\n", nonce, status);
    line[0] = '\0';
    const char *p = line;
    size_t left = (size_t)len + 1;
    while (left > 0) {
        ssize_t put = write(fd, p, left);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return;
        p += put;
        left -= (size_t)put;
    }
}

static int write_all(int fd, const char *p, size_t left) {
    while (left > 0) {
        ssize_t put = write(fd, p, left);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        left -= (size_t)put;
    }
    return 0;
}

/* Starts argv (the waiting interpreter) confined, with its header pipe on fd 3. */
static pid_t prestart(char **argv, int *feed) {
    static char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", NULL};
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        close(p[1]);
        if (p[0] != 3) {
            if (dup2(p[0], 3) < 0)
                _exit(125);
            close(p[0]);
        }
        if (confine() != 0) {
            say("cannot set up the Landlock domain");
            _exit(126);
        }
        execve(argv[0], argv, env);
        say(argv[0]);
        _exit(127);
    }
    close(p[0]);
    signal(SIGPIPE, SIG_IGN); /* a stub that died is seen by waitpid, not by a signal here */
    *feed = p[1];
    return child;
}

int main(int argc, char **args) {
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 125;
    int feed = -1;
    pid_t child = -1;
    if (argc > 2 && strcmp(args[1], "--prestart") == 0) {
        child = prestart(args + 2, &feed);
        if (child < 0)
            return 125;
    }
    long size = read_size();
    if (size <= 0 || (unsigned long)size > MAX_HEADER)
        return 125;
    char *body = malloc((size_t)size + 1);
    if (!body || read_exact(body, (size_t)size) != 0)
        return 125;
    body[size] = '\0';
    char *cursor = body, *end = body + size;
    char *nonce = cursor;
    cursor += strlen(nonce) + 1;
    if (!*nonce || strlen(nonce) > 128 || cursor > end)
        return 125;
    if (feed >= 0) {
        size_t len = (size_t)(end - cursor);
        if (len > 0 && end[-1] == '\0')
            len--; /* the stub splits on NUL: no empty last argument */
        char head[32];
        int n = snprintf(head, sizeof head, "%zu\n", len + 3);
        if (write_all(feed, head, (size_t)n) != 0 || write_all(feed, "py", 3) != 0 ||
            write_all(feed, cursor, len) != 0)
            say("cannot pass the call to the waiting interpreter");
        close(feed);
    }
    char **envp = feed >= 0 ? NULL : split(&cursor, end, 1);
    char **argv = feed >= 0 ? NULL : split(&cursor, end, 0);
    if (feed < 0 && (!envp || !argv || !argv[0]))
        return 125;
    if (child < 0)
        child = fork();
    if (child < 0)
        return 125;
    if (child == 0) {
        if (confine() != 0) {
            say("cannot set up the Landlock domain");
            _exit(126);
        }
        execve(argv[0], argv, envp);
        say(argv[0]);
        _exit(127);
    }
    int wstatus = 0, status = 255;
    while (waitpid(child, &wstatus, 0) < 0)
        if (errno != EINTR)
            break;
    if (WIFEXITED(wstatus))
        status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        status = 128 + WTERMSIG(wstatus);
    mark(1, nonce, status);
    mark(2, nonce, status);
    for (;;)
        pause();
}
