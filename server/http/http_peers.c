/*
 * Client addresses: how many connections, and how many uploads in progress, each one holds, so
 * that a single client cannot take every connection slot or the whole receive budget.
 *
 * An address is an IPv4 address, or an IPv6 /64 (one site's subnet: an attacker with an IPv6
 * link has a whole /64 to pick addresses from). IPv4-mapped IPv6 addresses count as IPv4.
 *
 * libmicrohttpd has a per-IP connection limit of its own (MHD_OPTION_PER_IP_CONNECTION_LIMIT),
 * but it counts each IPv6 address apart, writes a log line for every connection it refuses, and
 * knows nothing of uploads; this table serves both caps instead.
 *
 * Entries live in a hash table under one mutex, from an address's first connection to its last
 * close: there are never more of them than connections held. Buckets are picked with a random
 * key, so that a client cannot choose addresses that all land in one chain.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http/http_internal.h"

struct http_peer {
    struct http_peer *next; /* in its bucket */
    uint8_t key[16];        /* see address_key */
    unsigned connections;   /* connections started and not yet closed */
    unsigned uploads;       /* request bodies being received */
};

/* The key of an address: IPv4 as ::ffff:a.b.c.d, IPv6 as its first 64 bits, the rest zero. */
static void address_key(const struct sockaddr *addr, uint8_t key[16])
{
    memset(key, 0, 16);
    if (addr == NULL)
        return;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
        memcpy(key, &in6->sin6_addr, mapped ? 16 : 8);
    }
}

static bool key_is_ipv4(const uint8_t key[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(key, prefix, sizeof prefix) == 0;
}

void http_peers_describe(const struct sockaddr *addr, char *out, size_t size)
{
    uint8_t key[16];
    address_key(addr, key);
    char text[INET6_ADDRSTRLEN];
    if (key_is_ipv4(key)) {
        inet_ntop(AF_INET, key + 12, text, sizeof text);
        snprintf(out, size, "%s", text);
    } else {
        inet_ntop(AF_INET6, key, text, sizeof text);
        snprintf(out, size, "%s/64", text);
    }
}

/* Mixes the key's two halves with the table's random seed (splitmix64's finaliser). */
static size_t bucket_of(const struct http_peers *peers, const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = peers->seed ^ a;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h ^= b;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (size_t)(h & peers->bucket_mask);
}

/* The entry of `key`, or NULL; call with `lock` held. */
static struct http_peer *find(struct http_peers *peers, const uint8_t key[16])
{
    for (struct http_peer *p = peers->buckets[bucket_of(peers, key)]; p != NULL; p = p->next)
        if (memcmp(p->key, key, 16) == 0)
            return p;
    return NULL;
}

/* Frees `peer` once it holds nothing; call with `lock` held. */
static void forget_if_idle(struct http_peers *peers, struct http_peer *peer)
{
    if (peer->connections > 0 || peer->uploads > 0)
        return;
    struct http_peer **link = &peers->buckets[bucket_of(peers, peer->key)];
    while (*link != peer)
        link = &(*link)->next;
    *link = peer->next;
    free(peer);
}

bool http_peers_init(struct http_peers *peers, unsigned max_connections_total,
                     unsigned max_connections, unsigned max_uploads)
{
    peers->max_connections = max_connections;
    peers->max_uploads = max_uploads;
    size_t buckets = 64;
    while (buckets < max_connections_total && buckets < ((size_t)1 << 20))
        buckets *= 2;
    peers->buckets = calloc(buckets, sizeof *peers->buckets);
    if (peers->buckets == NULL)
        return false;
    peers->bucket_mask = buckets - 1;
    if (getrandom(&peers->seed, sizeof peers->seed, 0) != (ssize_t)sizeof peers->seed) {
        free(peers->buckets);
        peers->buckets = NULL;
        return false;
    }
    pthread_mutex_init(&peers->lock, NULL);
    atomic_init(&peers->refused, 0);
    atomic_init(&peers->refusal_logged_us, 0);
    peers->initialized = true;
    return true;
}

void http_peers_destroy(struct http_peers *peers)
{
    if (!peers->initialized)
        return;
    for (size_t i = 0; i <= peers->bucket_mask; i++) {
        struct http_peer *p = peers->buckets[i];
        while (p != NULL) {
            struct http_peer *next = p->next;
            free(p);
            p = next;
        }
    }
    free(peers->buckets);
    peers->buckets = NULL;
    pthread_mutex_destroy(&peers->lock);
    peers->initialized = false;
}

bool http_peers_may_connect(struct http_peers *peers, const struct sockaddr *addr)
{
    if (peers->max_connections == 0)
        return true;
    uint8_t key[16];
    address_key(addr, key);
    pthread_mutex_lock(&peers->lock);
    const struct http_peer *peer = find(peers, key);
    bool room = peer == NULL || peer->connections < peers->max_connections;
    pthread_mutex_unlock(&peers->lock);
    return room;
}

enum http_peers_admission http_peers_connect(struct http_peers *peers, const struct sockaddr *addr,
                                             struct http_peer **out)
{
    uint8_t key[16];
    address_key(addr, key);
    *out = NULL;
    pthread_mutex_lock(&peers->lock);
    struct http_peer *peer = find(peers, key);
    enum http_peers_admission admission = HTTP_PEERS_ADMITTED;
    if (peer == NULL) {
        peer = calloc(1, sizeof *peer);
        if (peer != NULL) {
            memcpy(peer->key, key, sizeof peer->key);
            size_t bucket = bucket_of(peers, key);
            peer->next = peers->buckets[bucket];
            peers->buckets[bucket] = peer;
        } else {
            admission = HTTP_PEERS_NO_MEMORY;
        }
    } else if (peers->max_connections > 0 && peer->connections >= peers->max_connections) {
        admission = HTTP_PEERS_OVER_CAP;
    }
    if (admission == HTTP_PEERS_ADMITTED) {
        peer->connections++;
        *out = peer;
    }
    pthread_mutex_unlock(&peers->lock);
    return admission;
}

void http_peers_disconnect(struct http_peers *peers, struct http_peer *peer)
{
    if (peer == NULL)
        return;
    pthread_mutex_lock(&peers->lock);
    peer->connections--;
    forget_if_idle(peers, peer);
    pthread_mutex_unlock(&peers->lock);
}

bool http_peers_begin_upload(struct http_peers *peers, struct http_peer *peer)
{
    if (peer == NULL)
        return true; /* a connection not counted (only when it is being refused) */
    pthread_mutex_lock(&peers->lock);
    bool room = peers->max_uploads == 0 || peer->uploads < peers->max_uploads;
    if (room)
        peer->uploads++;
    pthread_mutex_unlock(&peers->lock);
    return room;
}

void http_peers_end_upload(struct http_peers *peers, struct http_peer *peer)
{
    if (peer == NULL)
        return;
    pthread_mutex_lock(&peers->lock);
    peer->uploads--;
    forget_if_idle(peers, peer);
    pthread_mutex_unlock(&peers->lock);
}
