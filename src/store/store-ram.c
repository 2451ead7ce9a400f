/*
 * store-ram.c - the RAM tier: plaintext chunks of this process, LRU bounded
 * by bytes.  A hash table of object ids (chained) plus a doubly linked list
 * in use order; the least recently used entries go when a new one would
 * pass the limit.  Entries are verified before they get here and never leave
 * the process, so nothing is checked again.
 *
 * Every store handle of a process shares one (store_ram_shared): a restore
 * decodes on a thread per CPU, each with a handle of its own, and a second
 * restore in the same process should find what the first one verified.  So
 * it is safe for threads: one lock for the table and the list, and an entry
 * being copied out holds a reference, so that the copy runs outside the
 * lock and an eviction meanwhile only unlinks it (the last reference frees).
 * Each entry is a mapping of its own that children do not inherit
 * (MADV_DONTFORK): a restoring process forks the engine's init, and copying
 * the page tables of a GiB of cache into it, and into every helper after it,
 * cost a restore from RAM more than the RAM saved.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store/store-internal.h"

#define RAM_BUCKETS 65536u

struct ram_entry {
	char id[STORE_ID_MAX];
	size_t len;
	unsigned refs; /* copies out in progress */
	bool gone; /* evicted while referenced: the last reference frees it */
	struct ram_entry *prev, *next; /* LRU list: head is the most recent */
	struct ram_entry *hnext;
	uint8_t data[];
};

struct store_ram {
	pthread_mutex_t lock;
	uint64_t limit, used;
	struct ram_entry *head, *tail;
	struct ram_entry *buckets[RAM_BUCKETS];
};

static size_t entry_size(size_t len)
{
	return (sizeof(struct ram_entry) + len + 4095) & ~(size_t)4095;
}

static struct ram_entry *entry_new(size_t len)
{
	void *p = mmap(NULL, entry_size(len), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, entry_size(len), MADV_DONTFORK);
	return p;
}

static void entry_free(struct ram_entry *e)
{
	munmap(e, entry_size(e->len));
}

static unsigned bucket(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & (RAM_BUCKETS - 1);
}

struct store_ram *store_ram_new(uint64_t limit)
{
	struct store_ram *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->limit = limit;
	return r;
}

struct store_ram *store_ram_shared(uint64_t limit)
{
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	static struct store_ram *shared;
	struct store_ram *r;

	pthread_mutex_lock(&once);
	if (!shared)
		shared = store_ram_new(limit);
	r = shared;
	pthread_mutex_unlock(&once);
	if (r) {
		pthread_mutex_lock(&r->lock);
		if (limit > r->limit)
			r->limit = limit; /* the largest any handle asked for */
		pthread_mutex_unlock(&r->lock);
	}
	return r;
}

static void unlink_lru(struct store_ram *r, struct ram_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		r->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		r->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(struct store_ram *r, struct ram_entry *e)
{
	e->next = r->head;
	e->prev = NULL;
	if (r->head)
		r->head->prev = e;
	r->head = e;
	if (!r->tail)
		r->tail = e;
}

static struct ram_entry **find(struct store_ram *r, const char *id)
{
	struct ram_entry **pp = &r->buckets[bucket(id)];

	while (*pp && strcmp((*pp)->id, id))
		pp = &(*pp)->hnext;
	return pp;
}

/* With the lock held: out of the table and the list; freed unless referenced. */
static void evict(struct store_ram *r, struct ram_entry *e)
{
	struct ram_entry **pp = find(r, e->id);

	*pp = e->hnext;
	unlink_lru(r, e);
	r->used -= e->len;
	if (e->refs)
		e->gone = true;
	else
		entry_free(e);
}

bool store_ram_get(struct store_ram *r, const char *id, void *out, size_t len)
{
	struct ram_entry *e;

	pthread_mutex_lock(&r->lock);
	e = *find(r, id);
	if (!e || e->len != len) {
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	unlink_lru(r, e);
	push_front(r, e);
	e->refs++;
	pthread_mutex_unlock(&r->lock);
	memcpy(out, e->data, len);
	pthread_mutex_lock(&r->lock);
	if (!--e->refs && e->gone)
		entry_free(e);
	pthread_mutex_unlock(&r->lock);
	return true;
}

void store_ram_put(struct store_ram *r, const char *id, const void *data, size_t len)
{
	struct ram_entry *e;

	if (len > r->limit)
		return;
	/* filled outside the lock: the table sees it whole */
	e = entry_new(len);
	if (!e)
		return; /* a cache that cannot grow is still correct */
	strcpy(e->id, id);
	e->len = len;
	e->refs = 0;
	e->gone = false;
	memcpy(e->data, data, len);
	e->hnext = NULL;
	pthread_mutex_lock(&r->lock);
	if (*find(r, id) || len > r->limit) { /* another thread put it first */
		pthread_mutex_unlock(&r->lock);
		entry_free(e);
		return;
	}
	while (r->tail && r->used + len > r->limit)
		evict(r, r->tail);
	*find(r, id) = e;
	push_front(r, e);
	r->used += len;
	pthread_mutex_unlock(&r->lock);
}

void store_ram_free(struct store_ram *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	while (r->tail)
		evict(r, r->tail);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
