/* SPDX-License-Identifier: MIT */
#include "virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#define HDR_LEN 16u	/* struct virtio_blk_outhdr: type, ioprio (reserved), sector */

/* The data part of a request: bytes [skip, skip + len) of segments [first, end). */
struct span {
	unsigned int first, end;
	uint64_t skip, len;
};

/* ---- overlay bitmap (cow) ---- */

static int map_get(const uint64_t *m, uint64_t s)
{
	return (int)((m[s / 64] >> (s % 64)) & 1);
}

static void map_set(uint64_t *m, uint64_t s, uint64_t n)
{
	for (; n && (s % 64); s++, n--)
		m[s / 64] |= 1ULL << (s % 64);
	for (; n >= 64; s += 64, n -= 64)
		m[s / 64] = ~0ULL;
	for (; n; s++, n--)
		m[s / 64] |= 1ULL << (s % 64);
}

/* How many sectors from s (at most max, max >= 1) share s's bit; *overlay gets the bit. */
static uint64_t map_run(const uint64_t *m, uint64_t s, uint64_t max, int *overlay)
{
	int bit = map_get(m, s);
	uint64_t n = 0;

	while (n < max) {
		uint64_t cur = s + n, w = m[cur / 64];
		unsigned int sh = (unsigned int)(cur % 64), room = 64 - sh, same;

		if (!bit)
			w = ~w;
		w >>= sh;	/* ones = sectors like s; the vacated top bits read as "different" */
		same = ~w ? (unsigned int)__builtin_ctzll(~w) : 64;	/* so same <= room */
		n += same;
		if (same < room)
			break;
	}
	*overlay = bit;
	return n < max ? n : max;
}

/* ---- I/O straight between the image and guest memory ---- */

static int span_iov(const struct vq_chain *c, const struct span *d, uint64_t off, uint64_t len,
		    struct iovec *iov)
{
	uint64_t skip = d->skip + off;
	unsigned int i;
	int n = 0;

	for (i = d->first; i < d->end && len; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint64_t take;

		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		take = s->len - skip;
		if (take > len)
			take = len;
		iov[n].iov_base = s->host + skip;
		iov[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return n;
}

/* preadv/pwritev until every byte moved; short counts and EINTR are retried. */
static int io_full(int fd, int write, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = write ? pwritev(fd, iov, cnt, (off_t)off) : preadv(fd, iov, cnt, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;	/* end of file: the image shrank under us */
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int in_range(const struct virtio_blk *b, uint64_t sector, uint64_t len)
{
	return len % VIRTIO_BLK_SECTOR == 0 && sector <= b->capacity &&
	       len / VIRTIO_BLK_SECTOR <= b->capacity - sector;
}

static int do_read(struct virtio_blk *b, const struct vq_chain *c, const struct span *d,
		   uint64_t sector)
{
	struct iovec iov[VQ_MAX_SEGS];
	uint64_t nsec = d->len / VIRTIO_BLK_SECTOR, done = 0;

	if (!b->cow)
		return io_full(b->fd, 0, iov, span_iov(c, d, 0, d->len, iov),
			       sector * VIRTIO_BLK_SECTOR);
	/* Split into runs that live wholly in the base or wholly in the overlay. */
	while (done < nsec) {
		int overlay, r;
		uint64_t run = map_run(b->cow_map, sector + done, nsec - done, &overlay);
		int cnt = span_iov(c, d, done * VIRTIO_BLK_SECTOR, run * VIRTIO_BLK_SECTOR, iov);

		r = io_full(overlay ? b->overlay_fd : b->fd, 0, iov, cnt,
			    (sector + done) * VIRTIO_BLK_SECTOR);
		if (r)
			return r;
		done += run;
	}
	return 0;
}

static int do_write(struct virtio_blk *b, const struct vq_chain *c, const struct span *d,
		    uint64_t sector)
{
	struct iovec iov[VQ_MAX_SEGS];
	int cnt = span_iov(c, d, 0, d->len, iov), r;

	/* Requests are whole sectors, so an overlay write never needs the base's bytes. */
	r = io_full(b->cow ? b->overlay_fd : b->fd, 1, iov, cnt, sector * VIRTIO_BLK_SECTOR);
	if (r == 0 && b->cow)
		map_set(b->cow_map, sector, d->len / VIRTIO_BLK_SECTOR);
	return r;
}

/*
 * Serves one chain. Returns the bytes written into its writable part (data
 * + status); 0 when there is no writable byte to put a status in.
 */
static uint32_t serve(struct virtio_blk *b, const struct vq_chain *c)
{
	const struct vq_seg *last;
	struct virtio_blk_outhdr h;
	struct span d;
	uint64_t sector, written = 1;
	uint8_t st = VIRTIO_BLK_S_IOERR;

	if (c->in_len == 0)
		return 0;
	/* Segments are never empty, so the last writable byte is the status. */
	last = &c->seg[c->n_out + c->n_in - 1];
	if (c->out_len < HDR_LEN)
		goto out;
	vq_chain__read(c, 0, &h, HDR_LEN);
	sector = le64toh(h.sector);
	switch (le32toh(h.type)) {
	case VIRTIO_BLK_T_IN:
		d = (struct span){ c->n_out, c->n_out + c->n_in, 0, c->in_len - 1 };
		if (in_range(b, sector, d.len) && do_read(b, c, &d, sector) == 0) {
			st = VIRTIO_BLK_S_OK;
			written += d.len;
		}
		break;
	case VIRTIO_BLK_T_OUT:
		d = (struct span){ 0, c->n_out, HDR_LEN, c->out_len - HDR_LEN };
		if (!b->read_only && in_range(b, sector, d.len) && do_write(b, c, &d, sector) == 0)
			st = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* A cow overlay dies with the VMM: there is nothing to make durable. */
		if (b->read_only || b->cow || fdatasync(b->fd) == 0)
			st = VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = c->in_len - 1;

		if (n > VIRTIO_BLK_ID_BYTES)
			n = VIRTIO_BLK_ID_BYTES;
		written += vq_chain__write(c, 0, b->serial, n);
		st = VIRTIO_BLK_S_OK;
		break;
	}
	default:
		st = VIRTIO_BLK_S_UNSUPP;
		break;
	}
out:
	last->host[last->len - 1] = st;
	if (st != VIRTIO_BLK_S_OK)
		b->errors++;
	return written > UINT32_MAX ? UINT32_MAX : (uint32_t)written;
}

/* ---- virtio_dev_ops ---- */

static uint64_t blk_features(void *dev)
{
	const struct virtio_blk *b = dev;
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) |
		     /* virtqueue.c expands (and checks) indirect tables: one ring slot per request. */
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	if (b->read_only)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	return f;
}

/* Config space never changes after open, so it needs no lock (and must not take ours). */
static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	const struct virtio_blk *b = dev;

	memcpy(data, (const uint8_t *)&b->config + off, len);
}

static int blk_activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

static void blk_notify(void *dev, unsigned int q)
{
	struct virtio_blk *b = dev;
	struct virtio_mmio *t = b->transport;
	struct virtqueue *vq;
	unsigned int budget, done = 0;
	int r = 0;

	if (!t || q != 0)
		return;
	vq = &t->vq[0];
	pthread_mutex_lock(&b->lock);
	/*
	 * At most a ring's worth per notify: that covers everything published
	 * before we took the lock, and a driver kicks again after publishing
	 * more (we never set VRING_USED_F_NO_NOTIFY). A guest refilling the ring
	 * from another vCPU thus cannot pin this thread here forever.
	 */
	budget = vq->size;
	while (done < budget && (r = virtqueue__pop(vq, &b->chain)) == 1) {
		uint32_t written = serve(b, &b->chain);

		b->reqs++;
		r = virtqueue__push(vq, b->chain.head, written);
		if (r < 0)
			break;
		done++;
	}
	if (done)
		virtio_mmio__signal_used(t, 0);
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		virtio_mmio__needs_reset(t);
}

static void blk_reset(void *dev)
{
	struct virtio_blk *b = dev;

	/* Requests complete synchronously: waiting out the one in flight is all there is. */
	pthread_mutex_lock(&b->lock);
	pthread_mutex_unlock(&b->lock);
}

const struct virtio_dev_ops virtio_blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max = VIRTIO_BLK_QUEUE_MAX,
	.config_len = sizeof(struct virtio_blk_config),
	.features = blk_features,
	.config_read = blk_config_read,
	.config_write = NULL,	/* nothing in our config is writable (no CONFIG_WCE) */
	.activate = blk_activate,
	.notify = blk_notify,
	.reset = blk_reset,
};

void virtio_blk__attach(struct virtio_blk *b, struct virtio_mmio *t)
{
	b->transport = t;
}

/* ---- open / close ---- */

static int set_serial(struct virtio_blk *b, const struct virtio_blk_opts *o, struct sv_error *err)
{
	const char *s = o->serial;
	size_t n;

	if (s) {
		n = strlen(s);
		if (n > VIRTIO_BLK_ID_BYTES)
			return sv_err(err, -EINVAL, "disk serial '%s' is %zu bytes, at most %d allowed",
				      s, n, VIRTIO_BLK_ID_BYTES);
	} else {
		s = strrchr(o->path, '/');
		s = s ? s + 1 : o->path;
		n = strlen(s);
		if (n > VIRTIO_BLK_ID_BYTES)
			n = VIRTIO_BLK_ID_BYTES;
	}
	memcpy(b->serial, s, n);
	return 0;
}

static int open_image(struct virtio_blk *b, const char *path, struct sv_error *err)
{
	int writable = !b->read_only && !b->cow, e;

	b->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (b->fd >= 0)
		return 0;
	e = errno;
	if (e == ENOENT)
		return sv_err(err, -e, "disk image '%s' does not exist", path);
	if (writable && (e == EACCES || e == EPERM || e == EROFS || e == ETXTBSY))
		return sv_err(err, -e,
			      "cannot open disk image '%s' for writing: %s (add ',ro' for a read-only "
			      "disk, or ',cow' to keep the guest's writes private)", path, strerror(e));
	return sv_err(err, -e, "cannot open disk image '%s': %s", path, strerror(e));
}

/* Writers exclude everyone; read-only and cow users only exclude writers. */
static int lock_image(struct virtio_blk *b, const char *path, struct sv_error *err)
{
	int writable = !b->read_only && !b->cow;

	if (flock(b->fd, (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return 0;	/* a file system without flock: go on unprotected */
	return sv_err(err, -EBUSY, "disk image '%s' is in use by another VM%s", path,
		      writable ? " (add ',cow' to share it with private writes)"
			       : " that opened it read-write");
}

static int image_size(struct virtio_blk *b, const char *path, uint64_t *bytes,
		      struct sv_error *err)
{
	struct stat st;
	int e;

	if (fstat(b->fd, &st) < 0) {
		e = errno;
		return sv_err(err, -e, "cannot stat disk image '%s': %s", path, strerror(e));
	}
	if (S_ISREG(st.st_mode)) {
		*bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, bytes) < 0) {
			e = errno;
			return sv_err(err, -e, "cannot get the size of block device '%s': %s", path,
				      strerror(e));
		}
	} else {
		return sv_err(err, -EINVAL, "disk image '%s' is %s, not a regular file or block device",
			      path, S_ISDIR(st.st_mode) ? "a directory" : "a special file");
	}
	if (*bytes == 0)
		return sv_err(err, -EINVAL, "disk image '%s' is empty", path);
	if (*bytes % VIRTIO_BLK_SECTOR)
		return sv_err(err, -EINVAL,
			      "disk image '%s' is %llu bytes, not a multiple of the %u-byte sector "
			      "(pad it: truncate -s %llu '%s')", path, (unsigned long long)*bytes,
			      VIRTIO_BLK_SECTOR,
			      (unsigned long long)((*bytes / VIRTIO_BLK_SECTOR + 1) * VIRTIO_BLK_SECTOR),
			      path);
	return 0;
}

/* A private, sparse, already-unlinked file as large as the image. */
static int make_overlay(struct virtio_blk *b, uint64_t bytes, struct sv_error *err)
{
	const char *dir = getenv("TMPDIR");
	char tmpl[4096];
	int e;

	if (!dir || !*dir)
		dir = "/tmp";
	b->overlay_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (b->overlay_fd < 0) {
		/* O_TMPFILE needs file system support; fall back to create-and-unlink. */
		if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/sandvisor-cow-XXXXXX", dir) >= sizeof(tmpl))
			return sv_err(err, -ENAMETOOLONG, "TMPDIR '%s' is too long", dir);
		b->overlay_fd = mkostemp(tmpl, O_CLOEXEC);
		if (b->overlay_fd < 0) {
			e = errno;
			return sv_err(err, -e, "cannot create the copy-on-write overlay in '%s': %s",
				      dir, strerror(e));
		}
		unlink(tmpl);
	}
	if (ftruncate(b->overlay_fd, (off_t)bytes) < 0) {
		e = errno;
		return sv_err(err, -e, "cannot size the copy-on-write overlay in '%s' to %llu bytes: %s",
			      dir, (unsigned long long)bytes, strerror(e));
	}
	/* calloc: pages of the map the guest never writes are never touched. */
	b->cow_map = calloc((size_t)(b->capacity / 64 + 1), sizeof(uint64_t));
	if (!b->cow_map)
		return sv_err(err, -ENOMEM, "out of memory for the copy-on-write map (%llu KiB)",
			      (unsigned long long)(b->capacity / 64 * 8 / 1024 + 1));
	return 0;
}

int virtio_blk__open(struct virtio_blk *b, const struct virtio_blk_opts *o, struct sv_error *err)
{
	uint64_t bytes = 0;
	int r;

	memset(b, 0, sizeof(*b));
	b->fd = b->overlay_fd = -1;
	if (!o->path || !*o->path)
		return sv_err(err, -EINVAL, "disk image: no path given");
	b->read_only = !!o->read_only;
	b->cow = !b->read_only && o->cow;
	r = set_serial(b, o, err);
	if (!r)
		r = open_image(b, o->path, err);
	if (!r)
		r = lock_image(b, o->path, err);
	if (!r)
		r = image_size(b, o->path, &bytes, err);
	if (!r) {
		b->capacity = bytes / VIRTIO_BLK_SECTOR;
		if (b->cow)
			r = make_overlay(b, bytes, err);
	}
	if (r) {
		virtio_blk__close(b);
		return r;
	}
	b->config.capacity = htole64(b->capacity);
	b->config.seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	b->config.blk_size = htole32(VIRTIO_BLK_SECTOR);
	pthread_mutex_init(&b->lock, NULL);
	b->transport = NULL;
	return 0;
}

void virtio_blk__close(struct virtio_blk *b)
{
	if (b->overlay_fd >= 0)
		close(b->overlay_fd);
	if (b->fd >= 0)
		close(b->fd);	/* drops the flock too */
	free(b->cow_map);
	if (b->config.capacity)		/* set, like the lock, only by a successful open */
		pthread_mutex_destroy(&b->lock);
	b->fd = b->overlay_fd = -1;
	b->cow_map = NULL;
	b->capacity = 0;
	b->config.capacity = 0;
	b->transport = NULL;
}
