/* SPDX-License-Identifier: MIT */
/*
 * PUT_FILE, GET_FILE, LIST, DELETE, MKDIR under the data directory.
 *
 * Paths are normalised by sv_proto_path_normalize() (no "..", nothing
 * absolute outside /mnt/data) and then resolved by the kernel with
 * openat2(RESOLVE_BENEATH): user code can plant symlinks in /mnt/data, and
 * those must not lead the agent (root) anywhere else. Data streams through in
 * chunks; nothing holds a whole file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

#define RESOLVE_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

/* openat2 beneath dirfd; EXDEV (escape attempt) is reported as EACCES. */
static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = mode,
				.resolve = RESOLVE_FLAGS };
	int fd = (int)syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof(how));

	if (fd < 0)
		return errno == EXDEV ? -EACCES : -errno;
	return fd;
}

/* Decodes the path message and normalises its path. */
static int get_path(struct agent *a, const struct sv_frame_hdr *h, struct sv_msg_path *m,
		    char *rel)
{
	int r = sv_msg_path_decode(a->rx, h->len, m);

	if (r < 0)
		return agent_error(a, h->id, -r, "malformed %s request", sv_proto_type_name(h->type))
			       ? AGENT_BROKEN : -1;
	r = sv_proto_path_normalize(m->path, rel, SV_PROTO_PATH_MAX + 1);
	if (r < 0)
		return agent_error(a, h->id, -r, "path '%s' refused: %s", m->path,
				   r == -EACCES ? "it must stay inside " SV_DATA_DIR
						: strerror(-r)) ? AGENT_BROKEN : -1;
	return 0;
}

/* Splits "a/b/c" into parent "a/b" and name "c" (parent "" for "c"). */
static void split(char *rel, const char **parent, const char **name)
{
	char *slash = strrchr(rel, '/');

	if (slash) {
		*slash = 0;
		*parent = rel;
		*name = slash + 1;
	} else {
		*parent = "";
		*name = rel;
	}
}

/* mkdir -p beneath the data directory; returns an O_PATH fd of the result or -errno. */
static int mkdirs(struct agent *a, const char *rel)
{
	char buf[SV_PROTO_PATH_MAX + 1], *comp, *save = NULL;
	int cur = open_beneath(a->data_fd, "", O_PATH | O_DIRECTORY, 0);

	snprintf(buf, sizeof(buf), "%s", rel);
	for (comp = strtok_r(buf, "/", &save); comp && cur >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		int next;

		if (mkdirat(cur, comp, 0755) == 0) {
			if (fchownat(cur, comp, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) < 0) {
				/* still usable by root; user code may not write there */
			}
		} else if (errno != EEXIST) {
			int e = -errno;

			close(cur);
			return e;
		}
		next = open_beneath(cur, comp, O_PATH | O_DIRECTORY, 0);
		close(cur);
		cur = next;
	}
	return cur;
}

int agent_put_file(struct agent *a, const struct sv_frame_hdr *h)
{
	struct sv_msg_path m;
	char rel[SV_PROTO_PATH_MAX + 1], tmp[64];
	const char *parent = "", *name = "";
	int r, err = 0, dir = -1, fd = -1;
	char errmsg[256] = "";
	uint32_t id = h->id;

	r = sv_msg_path_decode(a->rx, h->len, &m);
	if (r < 0) {
		err = -r;
		snprintf(errmsg, sizeof(errmsg), "malformed PUT_FILE request");
	} else if ((r = sv_proto_path_normalize(m.path, rel, sizeof(rel))) < 0) {
		err = -r;
		snprintf(errmsg, sizeof(errmsg), "path '%.150s' refused: %s", m.path,
			 r == -EACCES ? "it must stay inside " SV_DATA_DIR : strerror(-r));
	} else if (!rel[0]) {
		err = EISDIR;
		snprintf(errmsg, sizeof(errmsg), "PUT_FILE needs a file name");
	} else {
		split(rel, &parent, &name);
		dir = mkdirs(a, parent);
		if (dir < 0) {
			err = -dir;
			snprintf(errmsg, sizeof(errmsg), "cannot create directory '%.150s': %s",
				 parent, strerror(err));
		} else {
			snprintf(tmp, sizeof(tmp), ".sv-upload.%d.%u", (int)getpid(), id);
			fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				    0600);
			if (fd < 0) {
				err = errno;
				snprintf(errmsg, sizeof(errmsg), "cannot create '%.150s': %s", name,
					 strerror(err));
			}
		}
	}
	/* Take every data frame up to END, even after a failure: the host sends them all. */
	for (;;) {
		r = agent_recv_data(a, id, SV_MSG_FILE_DATA);
		if (r != 1) {
			if (!err) {
				err = EPROTO;
				snprintf(errmsg, sizeof(errmsg), "PUT_FILE: expected FILE_DATA, got %s",
					 r == 0 ? sv_proto_type_name(a->hdr.type) : "nothing");
			}
			break;
		}
		if (!err && fd >= 0 && sv_proto_write_full(fd, a->rx, a->hdr.len, 0) < 0) {
			err = errno ? errno : EIO;
			snprintf(errmsg, sizeof(errmsg), "writing '%.150s' failed: %s", name,
				 strerror(err));
		}
		if (a->hdr.flags & SV_FRAME_END)
			break;
	}
	if (fd >= 0) {
		if (!err) {
			if (fchown(fd, a->uid, a->gid) < 0 && a->isolation)
				err = errno;
			fchmod(fd, m.mode ? (mode_t)m.mode : 0644);
		}
		if (close(fd) < 0 && !err)
			err = errno;
		if (!err && renameat(dir, tmp, dir, name) < 0) {
			err = errno;
			snprintf(errmsg, sizeof(errmsg), "cannot store '%.150s': %s", name,
				 strerror(err));
		}
		if (err)
			unlinkat(dir, tmp, 0);
		if (err && !errmsg[0])
			snprintf(errmsg, sizeof(errmsg), "%s", strerror(err));
	}
	if (dir >= 0)
		close(dir);
	if (r == AGENT_BROKEN)
		return AGENT_BROKEN;
	if (err)
		return agent_error(a, id, err, "%s", errmsg);
	return agent_ok(a, id);
}

int agent_get_file(struct agent *a, const struct sv_frame_hdr *h)
{
	struct sv_msg_path m;
	char rel[SV_PROTO_PATH_MAX + 1];
	struct stat st;
	int fd, r;

	if ((r = get_path(a, h, &m, rel)) != 0)
		return r < 0 && r != -1 ? r : 0;
	fd = open_beneath(a->data_fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return agent_error(a, h->id, -fd, "cannot open '%s': %s", m.path, strerror(-fd));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return agent_error(a, h->id, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
				   "'%s' is not a regular file", m.path);
	}
	for (;;) {
		ssize_t n = read(fd, a->tx, SV_PROTO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return agent_error(a, h->id, e, "reading '%s' failed: %s", m.path,
					   strerror(e));
		}
		r = agent_send(a, SV_MSG_FILE_DATA, n == 0 ? SV_FRAME_END : 0, h->id, a->tx,
			       (size_t)n);
		if (r < 0 || n == 0)
			break;
	}
	close(fd);
	return r;
}

static uint32_t file_type(mode_t m)
{
	if (S_ISREG(m))
		return SV_FT_FILE;
	if (S_ISDIR(m))
		return SV_FT_DIR;
	if (S_ISLNK(m))
		return SV_FT_SYMLINK;
	return SV_FT_OTHER;
}

int agent_list(struct agent *a, const struct sv_frame_hdr *h)
{
	struct sv_msg_path m;
	char rel[SV_PROTO_PATH_MAX + 1];
	struct sv_tlv_writer w;
	struct dirent *e;
	DIR *d;
	int fd, r;

	if ((r = get_path(a, h, &m, rel)) != 0)
		return r < 0 && r != -1 ? r : 0;
	fd = open_beneath(a->data_fd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return agent_error(a, h->id, -fd, "cannot list '%s': %s", m.path, strerror(-fd));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return agent_error(a, h->id, ENOMEM, "cannot list '%s'", m.path);
	}
	sv_tlv_writer_init(&w, a->tx, SV_PROTO_MAX_PAYLOAD);
	while ((e = readdir(d))) {
		struct sv_msg_entry en = { 0 };
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		snprintf(en.name, sizeof(en.name), "%s", e->d_name);
		en.size = (uint64_t)st.st_size;
		en.type = file_type(st.st_mode);
		en.mode = st.st_mode & 07777;
		en.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
		/* Leave room for one more entry; send the batch when full. */
		if (w.cap - w.len < 1024) {
			r = agent_send(a, SV_MSG_LIST_REPLY, 0, h->id, w.buf, w.len);
			if (r < 0)
				break;
			sv_tlv_writer_init(&w, a->tx, SV_PROTO_MAX_PAYLOAD);
		}
		sv_msg_entry_encode(&w, &en);
	}
	closedir(d);
	if (r < 0)
		return r;
	return agent_send(a, SV_MSG_LIST_REPLY, SV_FRAME_END, h->id, w.buf, w.len);
}

/* Removes the tree name inside dirfd without following symlinks. */
static int rm_tree(int dirfd, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd, ret = 0;

	if (depth > 256)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((e = readdir(d)) && ret == 0) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			ret = rm_tree(fd, e->d_name, depth + 1);
		else if (unlinkat(fd, e->d_name, 0) < 0)
			ret = -errno;
	}
	closedir(d);
	if (ret == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		ret = -errno;
	return ret;
}

int agent_delete(struct agent *a, const struct sv_frame_hdr *h)
{
	struct sv_msg_path m;
	char rel[SV_PROTO_PATH_MAX + 1];
	const char *parent, *name;
	struct stat st;
	int dir, r;

	if ((r = get_path(a, h, &m, rel)) != 0)
		return r < 0 && r != -1 ? r : 0;
	if (!rel[0])
		return agent_error(a, h->id, EACCES, "cannot delete the data directory itself");
	split(rel, &parent, &name);
	dir = open_beneath(a->data_fd, parent, O_PATH | O_DIRECTORY, 0);
	if (dir < 0)
		return agent_error(a, h->id, -dir, "cannot delete '%s': %s", m.path,
				   strerror(-dir));
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		if (m.flags & SV_DEL_RECURSIVE)
			r = rm_tree(dir, name, 0);
		else
			r = unlinkat(dir, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	} else {
		r = unlinkat(dir, name, 0) < 0 ? -errno : 0;
	}
	close(dir);
	if (r < 0)
		return agent_error(a, h->id, -r, "cannot delete '%s': %s", m.path, strerror(-r));
	return agent_ok(a, h->id);
}

int agent_mkdir(struct agent *a, const struct sv_frame_hdr *h)
{
	struct sv_msg_path m;
	char rel[SV_PROTO_PATH_MAX + 1];
	int fd, r;

	if ((r = get_path(a, h, &m, rel)) != 0)
		return r < 0 && r != -1 ? r : 0;
	fd = mkdirs(a, rel);
	if (fd < 0)
		return agent_error(a, h->id, -fd, "cannot create directory '%s': %s", m.path,
				   strerror(-fd));
	close(fd);
	return agent_ok(a, h->id);
}
