/* SPDX-License-Identifier: MIT */
/* A VM plus its connected guest agent: what `sandvisor run` and embedders use. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sandvisor.h"
#include "util.h"

#define SB_DEFAULT_MEM MIB(512)
#define SB_DEFAULT_BOOT_MS 120000
#define SB_CMDLINE_MAX 1024

struct sv_sandbox {
	struct sv_vm *vm;
	struct sv_agent *agent;
	pthread_t runner;
	int running;
	pthread_mutex_t lock;
	pthread_cond_t ended_cond;
	int ended;
	int run_rc;
	struct sv_exit exit;
	struct sv_error run_err;
	uint64_t start_ns, hello_ns;
};

void sv_sandbox_config_init(struct sv_sandbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->console_out_fd = -1;
}

static void *run_vm(void *arg)
{
	struct sv_sandbox *sb = arg;
	int rc = sv_vm_run(sb->vm, &sb->exit, &sb->run_err);

	/* Wake a host waiting on the agent: its reads now see end of file. */
	shutdown(sv_vm_control_fd(sb->vm), SHUT_RDWR);
	pthread_mutex_lock(&sb->lock);
	sb->run_rc = rc;
	sb->ended = 1;
	pthread_cond_broadcast(&sb->ended_cond);
	pthread_mutex_unlock(&sb->lock);
	return NULL;
}

/* Waits up to timeout_ms for the VM thread to end; 1 if it did. */
static int wait_ended(struct sv_sandbox *sb, int timeout_ms)
{
	struct timespec ts;
	int ended;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sb->lock);
	while (!sb->ended &&
	       pthread_cond_timedwait(&sb->ended_cond, &sb->lock, &ts) != ETIMEDOUT)
		;
	ended = sb->ended;
	pthread_mutex_unlock(&sb->lock);
	return ended;
}

static void finish(struct sv_sandbox *sb)
{
	if (sb->running) {
		if (!wait_ended(sb, 0))
			sv_vm_stop(sb->vm);
		pthread_join(sb->runner, NULL);
		sb->running = 0;
	}
	sv_agent_free(sb->agent);
	sv_vm_destroy(sb->vm);
	pthread_cond_destroy(&sb->ended_cond);
	pthread_mutex_destroy(&sb->lock);
	free(sb);
}

int sv_sandbox_start(const struct sv_sandbox_config *cfg, struct sv_sandbox **out,
		     struct sv_error *err)
{
	struct sv_vm_config vc;
	struct sv_sandbox *sb;
	char cmdline[SB_CMDLINE_MAX];
	int r;

	*out = NULL;
	if (!cfg->initrd_path)
		return sv_err(err, -EINVAL, "a sandbox needs the sandvisor initrd");
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return sv_err(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&sb->lock, NULL);
	pthread_cond_init(&sb->ended_cond, NULL);
	sb->start_ns = sv_now_ns();

	sv_vm_config_init(&vc);
	vc.kernel_path = cfg->kernel_path;
	vc.initrd_path = cfg->initrd_path;
	vc.mem_bytes = cfg->mem_bytes ? cfg->mem_bytes : SB_DEFAULT_MEM;
	vc.cpus = cfg->cpus;
	vc.console = SV_CONSOLE_VIRTIO;
	vc.console_out_fd = cfg->console_out_fd;
	vc.ctl_mode = SV_CTL_SOCKETPAIR;
	vc.kvm_path = cfg->kvm_path;
	if (cfg->runtime_image) {
		vc.disks[0] = (struct sv_disk){ .path = cfg->runtime_image, .read_only = 1,
						.serial = "sandvisor-rt" };
		vc.ndisks = 1;
	}
	if (cfg->ndisks > SV_MAX_DISKS - vc.ndisks) {
		finish(sb);
		return sv_err(err, -EINVAL, "at most %u extra disks", SV_MAX_DISKS - vc.ndisks);
	}
	for (unsigned int i = 0; i < cfg->ndisks; i++)
		vc.disks[vc.ndisks++] = cfg->disks[i];
	snprintf(cmdline, sizeof(cmdline), "quiet%s%s%s",
		 cfg->runtime_image ? "" : " sv.disk=none", cfg->cmdline ? " " : "",
		 cfg->cmdline ? cfg->cmdline : "");
	vc.cmdline = cmdline;

	r = sv_vm_create(&vc, &sb->vm, err);
	if (r) {
		finish(sb);
		return r;
	}
	r = pthread_create(&sb->runner, NULL, run_vm, sb);
	if (r) {
		finish(sb);
		return sv_err(err, -r, "cannot start the VM thread: %s", strerror(r));
	}
	sb->running = 1;
	r = sv_agent_connect(sv_vm_control_fd(sb->vm),
			     cfg->boot_timeout_ms ? (int)cfg->boot_timeout_ms : SB_DEFAULT_BOOT_MS,
			     &sb->agent, err);
	if (r) {
		char why[SV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		if (wait_ended(sb, 0))
			r = sv_err(err, -EIO, "the sandbox VM ended before its agent answered: %s: %s",
				   sv_exit_reason_name(sb->exit.reason), sb->exit.msg);
		else
			r = sv_err(err, r, "the sandbox's agent did not answer: %s", why);
		finish(sb);
		return r;
	}
	sb->hello_ns = sv_now_ns();
	*out = sb;
	return 0;
}

struct sv_agent *sv_sandbox_agent(struct sv_sandbox *sb)
{
	return sb->agent;
}

double sv_sandbox_boot_ms(const struct sv_sandbox *sb)
{
	return (double)(sb->hello_ns - sb->start_ns) / 1e6;
}

void sv_sandbox_dump(struct sv_sandbox *sb, int fd)
{
	sv_vm_dump(sb->vm, fd);
}

int sv_sandbox_stop(struct sv_sandbox *sb, int timeout_ms, struct sv_exit *ex,
		    struct sv_error *err)
{
	int r = 0, asked = 0;

	if (!sb)
		return 0;
	/* Ask politely; if the guest does not end by itself, end it. A broken agent is not asked. */
	if (!sv_agent_broken(sb->agent)) {
		r = sv_agent_shutdown(sb->agent, timeout_ms, err);
		asked = r == 0;
	}
	if (asked && !wait_ended(sb, timeout_ms))
		r = sv_err(err, -ETIMEDOUT, "the guest did not power off within %d ms; stopped it",
			   timeout_ms);
	if (!wait_ended(sb, 0))
		sv_vm_stop(sb->vm);
	pthread_join(sb->runner, NULL);
	sb->running = 0;
	if (ex)
		*ex = sb->exit;
	finish(sb);
	return r;
}
