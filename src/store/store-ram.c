/*
 * store-ram.c - the RAM tier: plaintext chunks of this process, LRU bounded
 * by bytes.  A hash table of object ids (chained) plus a doubly linked list
 * in use order; the least recently used entries go when a new one would
 * pass the limit.  Entries are verified before they get here, and the tier
 * lives only as long as the store object, so nothing is checked again.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store-internal.h"

#define RAM_BUCKETS 65536u

struct ram_entry {
	char id[STORE_ID_MAX];
	size_t len;
	struct ram_entry *prev, *next; /* LRU list: head is the most recent */
	struct ram_entry *hnext;
	uint8_t data[];
};

struct store_ram {
	uint64_t limit, used;
	struct ram_entry *head, *tail;
	struct ram_entry *buckets[RAM_BUCKETS];
};

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

	if (r)
		r->limit = limit;
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

static void evict(struct store_ram *r, struct ram_entry *e)
{
	struct ram_entry **pp = find(r, e->id);

	*pp = e->hnext;
	unlink_lru(r, e);
	r->used -= e->len;
	free(e);
}

bool store_ram_get(struct store_ram *r, const char *id, void *out, size_t len)
{
	struct ram_entry *e = *find(r, id);

	if (!e || e->len != len)
		return false;
	memcpy(out, e->data, len);
	unlink_lru(r, e);
	push_front(r, e);
	return true;
}

void store_ram_put(struct store_ram *r, const char *id, const void *data, size_t len)
{
	struct ram_entry **pp = find(r, id), *e;

	if (*pp || len > r->limit)
		return;
	while (r->tail && r->used + len > r->limit)
		evict(r, r->tail);
	e = malloc(sizeof(*e) + len);
	if (!e)
		return; /* a cache that cannot grow is still correct */
	strcpy(e->id, id);
	e->len = len;
	memcpy(e->data, data, len);
	e->hnext = NULL;
	*find(r, id) = e;
	push_front(r, e);
	r->used += len;
}

void store_ram_free(struct store_ram *r)
{
	if (!r)
		return;
	while (r->tail)
		evict(r, r->tail);
	free(r);
}
