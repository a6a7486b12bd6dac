/* SPDX-License-Identifier: MIT */
/*
 * The guest's PID 1: sets up the filesystems, loopback, the runtime disk, the
 * data directory and the user cgroup, then keeps the agent running and reaps
 * every orphan. It must never exit (the kernel would panic), so nothing here
 * is fatal: a step that fails is logged and the guest goes on without it.
 *
 * Kernel command line (see docs/protocol.md): sv.rt=DIR sv.disk=DEV|none
 * sv.mem_max=SIZE sv.pids_max=N sv.data_size=SIZE sv.debug=1
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sysfile.h"

#define AGENT_PATH "/sbin/sandvisor-agent"
#define SANDBOX_ID 1000
#define CG_USER "/sys/fs/cgroup/user"

struct config {
	char rt[256];
	char disk[128];
	char mem_max[32];
	char pids_max[32];
	char data_size[32];
	bool debug;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "sandvisor-init: ");

	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	if (write(2, buf, (size_t)n) < 0) {
		/* no console: nothing to do */
	}
}

static void mkdir_p(const char *path, mode_t mode)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, mode);
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		     const char *opts)
{
	mkdir_p(dst, 0755);
	if (mount(src, dst, type, flags, opts) < 0 && errno != EBUSY)
		logf_("mount %s on %s failed: %s", type, dst, strerror(errno));
}

/* Console on fds 0-2: the kernel only provides it if /dev/console was in the initramfs. */
static void setup_console(void)
{
	int fd;

	if (fcntl(2, F_GETFD) >= 0)
		return;
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static void parse_cmdline(struct config *c)
{
	char buf[4096], *tok, *save = NULL;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, "sv.rt=", 6) && tok[6] == '/')
			snprintf(c->rt, sizeof(c->rt), "%s", tok + 6);
		else if (!strncmp(tok, "sv.disk=", 8))
			snprintf(c->disk, sizeof(c->disk), "%s", tok + 8);
		else if (!strncmp(tok, "sv.mem_max=", 11))
			snprintf(c->mem_max, sizeof(c->mem_max), "%s", tok + 11);
		else if (!strncmp(tok, "sv.pids_max=", 12))
			snprintf(c->pids_max, sizeof(c->pids_max), "%s", tok + 12);
		else if (!strncmp(tok, "sv.data_size=", 13))
			snprintf(c->data_size, sizeof(c->data_size), "%s", tok + 13);
		else if (!strcmp(tok, "sv.debug=1"))
			c->debug = true;
	}
}

/* "512M" / "1G" / "12345" → bytes as a decimal string; "" if malformed. */
static void size_arg(const char *in, char *out, size_t cap)
{
	char *end;
	unsigned long long v = strtoull(in, &end, 10);

	out[0] = 0;
	if (end == in)
		return;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 0)
		snprintf(out, cap, "%llu", v);
}

static void setup_loopback(void)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		logf_("no AF_INET socket: %s", strerror(errno));
		return;
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0 && errno != EEXIST)
		logf_("lo: SIOCSIFADDR: %s", strerror(errno));
	sin->sin_addr.s_addr = htonl(0xff000000u);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		logf_("lo: SIOCSIFNETMASK: %s", strerror(errno));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			logf_("lo: SIOCSIFFLAGS: %s", strerror(errno));
	}
	close(s);
}

/*
 * The runtime image keeps its files at their Debian paths (usr/bin/python3.11,
 * usr/lib/x86_64-linux-gnu/..., the ELF interpreter in lib64): /usr, /lib and
 * /lib64 of the guest become links into it, so dynamic binaries, their
 * subprocesses and #! scripts run as on the host (runtimes/build-image.sh).
 * Without an image, /usr/bin/env still resolves (busybox) for #! lines.
 */
static void link_runtime_dirs(const struct config *c)
{
	static const char *const dirs[] = { "usr", "lib", "lib64" };
	bool have_usr = false;

	for (size_t i = 0; i < 3; i++) {
		char target[300], link[16];
		struct stat st;

		snprintf(target, sizeof(target), "%s/%s", c->rt, dirs[i]);
		snprintf(link, sizeof(link), "/%s", dirs[i]);
		if (stat(target, &st) < 0 || !S_ISDIR(st.st_mode) || lstat(link, &st) == 0)
			continue;
		if (symlink(target, link) < 0)
			logf_("cannot link %s to %s: %s", link, target, strerror(errno));
		else if (i == 0)
			have_usr = true;
	}
	if (!have_usr && lstat("/usr", &(struct stat){ 0 }) < 0) {
		mkdir_p("/usr/bin", 0755);
		if (symlink("/bin/busybox", "/usr/bin/env") < 0)
			logf_("cannot create /usr/bin/env: %s", strerror(errno));
	}
}

static void setup_runtime_disk(const struct config *c)
{
	struct stat st;

	if (strcmp(c->disk, "none") && stat(c->disk, &st) == 0 && S_ISBLK(st.st_mode)) {
		mkdir_p(c->rt, 0755);
		if (mount(c->disk, c->rt, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV, "") < 0 &&
		    mount(c->disk, c->rt, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "") < 0)
			logf_("cannot mount the runtime disk %s on %s: %s", c->disk, c->rt,
			      strerror(errno));
	}
	/* Also for runtimes packed into the initrd at sv.rt. */
	link_runtime_dirs(c);
}

/*
 * Disks the host attached besides the runtime disk (/dev/vdb, ... from
 * `run --disk`) are there for the sandbox's code, which runs as the sandbox
 * user: devtmpfs makes them root's (0600), so hand them over. Read-only disks
 * stay read-only (the guest kernel and the device refuse writes).
 */
static void setup_user_disks(const struct config *c)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char dev[300];

		if (strncmp(e->d_name, "vd", 2))
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
		if (!strcmp(dev, c->disk))
			continue;
		if (chown(dev, SANDBOX_ID, SANDBOX_ID) < 0 || chmod(dev, 0660) < 0)
			logf_("cannot give %s to the sandbox user: %s", dev, strerror(errno));
	}
	closedir(d);
}

static void setup_data(const struct config *c)
{
	char opts[128], size[32];
	int n = snprintf(opts, sizeof(opts), "mode=0755,uid=%d,gid=%d", SANDBOX_ID, SANDBOX_ID);

	size_arg(c->data_size, size, sizeof(size));
	if (size[0])
		snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%s", size);
	do_mount("tmpfs", "/mnt/data", "tmpfs", MS_NOSUID | MS_NODEV, opts);
	mkdir_p("/home/user", 0755);
	if (chown("/home/user", SANDBOX_ID, SANDBOX_ID) < 0)
		logf_("chown /home/user: %s", strerror(errno));
}

static void setup_cgroups(const struct config *c)
{
	static const char *const ctl[] = { "+memory", "+pids", "+cpu" };
	char val[32];
	struct sysinfo si;

	for (size_t i = 0; i < 3; i++)
		if (write_str("/sys/fs/cgroup/cgroup.subtree_control", ctl[i]) < 0)
			logf_("cgroup controller %s unavailable", ctl[i] + 1);
	if (mkdir(CG_USER, 0755) < 0 && errno != EEXIST) {
		logf_("cannot create %s: %s (user code runs without limits)", CG_USER,
		      strerror(errno));
		return;
	}
	size_arg(c->mem_max, val, sizeof(val));
	if (!val[0] && sysinfo(&si) == 0)
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)si.totalram * si.mem_unit / 10 * 8);
	if (val[0] && write_str(CG_USER "/memory.max", val) < 0)
		logf_("memory.max=%s: %s", val, strerror(errno));
	/* Swap would let a runaway fill the guest slowly instead of failing fast. */
	write_str(CG_USER "/memory.swap.max", "0");
	snprintf(val, sizeof(val), "%s", c->pids_max[0] ? c->pids_max : "512");
	if (write_str(CG_USER "/pids.max", val) < 0)
		logf_("pids.max=%s: %s", val, strerror(errno));
	for (size_t i = 0; i < 3; i++)
		write_str(CG_USER "/cgroup.subtree_control", ctl[i]);
}

static pid_t start_agent(const struct config *c)
{
	pid_t pid = fork();

	if (pid == 0) {
		char rt[300], *envp[5] = { rt, "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
					   c->debug ? "SV_DEBUG=1" : "SV_DEBUG=0", NULL };
		char *argv[] = { "sandvisor-agent", NULL };
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		snprintf(rt, sizeof(rt), "SV_RT=%s", c->rt);
		setsid();
		execve(AGENT_PATH, argv, envp);
		logf_("cannot run %s: %s", AGENT_PATH, strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		logf_("fork: %s", strerror(errno));
	return pid;
}

static void shutdown_now(void)
{
	logf_("shutting down");
	kill(-1, SIGKILL);
	sync();
	reboot(RB_AUTOBOOT);
	/* Reset failed (it does not, on our VMM): halt instead. */
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

int main(void)
{
	struct config cfg = { .rt = "/opt/sandvisor", .disk = "/dev/vda" };
	sigset_t set;
	pid_t agent = -1;
	unsigned quick_deaths = 0;
	time_t agent_started = 0;

	if (getpid() != 1)
		fprintf(stderr, "sandvisor-init: not PID 1; continuing anyway (for testing)\n");
	umask(022);
	do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	setup_console();
	do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
	do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
	do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	do_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		 "nsdelegate");
	parse_cmdline(&cfg);
	write_str("/proc/self/oom_score_adj", "-1000");
	if (sethostname("sandbox", 7) < 0) {
		/* cosmetic */
	}
	setup_loopback();
	setup_runtime_disk(&cfg);
	setup_data(&cfg);
	setup_user_disks(&cfg);
	setup_cgroups(&cfg);
	/* Ctrl-Alt-Del becomes SIGINT to us instead of an instant reboot. */
	reboot(RB_DISABLE_CAD);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPWR);
	sigprocmask(SIG_BLOCK, &set, NULL);

	for (;;) {
		struct timespec wait = { .tv_sec = 1 };
		siginfo_t si;
		int sig, st;
		pid_t pid;

		if (agent <= 0) {
			agent = start_agent(&cfg);
			agent_started = time(NULL);
			if (agent > 0)
				logf_("agent started (pid %d)", (int)agent);
		}
		sig = sigtimedwait(&set, &si, &wait);
		if (sig == SIGUSR2 || sig == SIGTERM || sig == SIGINT || sig == SIGPWR) {
			if (si.si_code == SI_USER && si.si_uid != 0)
				continue;
			shutdown_now();
		}
		/* Reap everything: our agent and every orphan the guest has. */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != agent)
				continue;
			logf_("agent exited (%s %d); restarting",
			      WIFSIGNALED(st) ? "signal" : "status",
			      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			agent = -1;
			/* Back off if it keeps dying at start. */
			quick_deaths = time(NULL) - agent_started < 2 ? quick_deaths + 1 : 0;
			if (quick_deaths > 3) {
				struct timespec ts = { .tv_sec = 1 };

				nanosleep(&ts, NULL);
			}
		}
	}
}
