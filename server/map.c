/* map.c - a string-keyed hash map that remembers insertion order.
 *
 * Chained buckets (a power of two, doubled at load 1) plus a doubly linked
 * list in insertion order, so keys()/items() come out in the order Python
 * users expect and deletion is O(1). Keys come from the network, so the hash
 * is SipHash-1-3 with a per-process random key: a client cannot aim many keys
 * at one bucket.
 * Exported: map_seed_init, map_find, map_add, map_del, map_ent_new, map_link_after,
 * map_unlink, map_copy, map_clear. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "srv.h"

static uint64_t map_k0 = 0x736f6d6570736575ULL, map_k1 = 0x646f72616e646f6dULL;

void
map_seed_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof(k), 0) == (ssize_t)sizeof(k)) {
        map_k0 = k[0];
        map_k1 = k[1];
    }
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                 \
    do {                                                                                         \
        v0 += v1;                                                                                \
        v1 = ROTL(v1, 13);                                                                       \
        v1 ^= v0;                                                                                \
        v0 = ROTL(v0, 32);                                                                       \
        v2 += v3;                                                                                \
        v3 = ROTL(v3, 16);                                                                       \
        v3 ^= v2;                                                                                \
        v0 += v3;                                                                                \
        v3 = ROTL(v3, 21);                                                                       \
        v3 ^= v0;                                                                                \
        v2 += v1;                                                                                \
        v1 = ROTL(v1, 17);                                                                       \
        v1 ^= v2;                                                                                \
        v2 = ROTL(v2, 32);                                                                       \
    } while (0)

static uint64_t
map_hash(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t v0 = 0x736f6d6570736575ULL ^ map_k0, v1 = 0x646f72616e646f6dULL ^ map_k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ map_k0, v3 = 0x7465646279746573ULL ^ map_k1;
    uint64_t b = ((uint64_t)len) << 56, m;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, p + i, 8);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < len; j++)
        b |= ((uint64_t)p[i + j]) << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

map_ent *
map_find(const srv_map *m, const char *key, size_t klen)
{
    if (m->nbuckets == 0)
        return NULL;
    uint64_t h = map_hash(key, klen);
    for (map_ent *e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

/* map_grow doubles the bucket array; on failure the map stays as it was. */
static bool
map_grow(srv_map *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 8;
    map_ent **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return false;
    for (map_ent *e = m->head; e != NULL; e = e->next) {
        size_t i = e->hash & (n - 1);
        e->hnext = b[i];
        b[i] = e;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return true;
}

map_ent *
map_ent_new(const char *key, size_t klen)
{
    map_ent *e = malloc(sizeof(*e) + klen + 1);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->klen = klen;
    e->hash = map_hash(key, klen);
    e->val.type = SM_NIL;
    return e;
}

bool
map_link_after(srv_map *m, map_ent *e, map_ent *after)
{
    if (m->len >= m->nbuckets && !map_grow(m) && m->nbuckets == 0)
        return false; /* a failed grow of a non-empty map only lengthens chains */
    size_t i = e->hash & (m->nbuckets - 1);
    e->hnext = m->buckets[i];
    m->buckets[i] = e;
    e->prev = after;
    e->next = after != NULL ? after->next : m->head;
    if (e->prev)
        e->prev->next = e;
    else
        m->head = e;
    if (e->next)
        e->next->prev = e;
    else
        m->tail = e;
    m->len++;
    return true;
}

map_ent *
map_add(srv_map *m, const char *key, size_t klen)
{
    map_ent *e = map_ent_new(key, klen);
    if (e != NULL && !map_link_after(m, e, m->tail)) {
        free(e);
        e = NULL;
    }
    return e;
}

void
map_unlink(srv_map *m, map_ent *e)
{
    map_ent **pp = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
    e->hnext = e->prev = e->next = NULL;
    m->len--;
}

void
map_del(srv_map *m, map_ent *e)
{
    map_unlink(m, e);
    free(e);
}

int
map_copy(srv_state *st, srv_map *dst, const srv_map *src)
{
    memset(dst, 0, sizeof(*dst));
    for (const map_ent *e = src->head; e != NULL; e = e->next) {
        map_ent *ne = map_add(dst, e->key, e->klen);
        if (ne == NULL || val_copy(&ne->val, &e->val) != SM_OK) {
            map_clear(st, dst);
            return SM_ENOMEM;
        }
    }
    return SM_OK;
}

void
map_clear(srv_state *st, srv_map *m)
{
    map_ent *e = m->head;
    while (e != NULL) {
        map_ent *next = e->next;
        if (st != NULL)
            val_clear(st, &e->val);
        free(e);
        e = next;
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}
