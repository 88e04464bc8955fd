/* Native BPE for the fast encoder: the same cuts and merge order as encoder.py, in C.
 *
 * encoder.py explains why the result equals the Hugging Face BPE model: a token can only span
 * two adjacent characters x y when "xy" occurs inside some merge result, so the text is cut at
 * every other boundary and each chunk is merged on its own, lowest rank first and leftmost on
 * ties. Here the text is read in place, special tokens are matched as it is read, the chunks never
 * become objects, a chunk seen before in the same call is copied from the ids already written,
 * and the GIL is released throughout.
 *
 * Encoder(char_ids, merge_keys, merge_ranks, merge_results, join_keys, byte_ids, unk, vocab_size, specials)
 *   char_ids      int32[0x110000]  id of the one-character token of a code point, -1 if none
 *   merge_keys    uint64[m]        left_id << 21 | right_id, first listing of each pair only
 *   merge_ranks   int32[m]         the merge's rank (its position in the merge list)
 *   merge_results int32[m]         id of the merged token
 *   join_keys     uint64[j]        x << 21 | y for adjacent code points x y inside a merge result
 *   byte_ids      int32[256] or empty   byte-fallback token ids (empty: no byte fallback)
 *   unk           id of the unknown token, or -1
 *   specials      list of (str, id): added special tokens, longest first, matched atomically
 * Encoder.encode(text) -> list[int];  Encoder.encode_many(texts) -> list[list[int]]
 * Encoder.encode_buffer(text) -> bytes   the same ids as native int32, for numpy without a list
 * Encoder.encode_many_buffer(texts) -> (ids bytes, ends bytes)   int32 ids, int64 end of each text
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define N_CODEPOINTS 0x110000
#define ID_BITS 21
#define EMPTY UINT64_MAX
#define NO_MERGE INT32_MAX
#define LONG_CHUNK 256 /* above this many symbols a heap beats rescanning the pair ranks */
#define IS_SURROGATE(c) ((c) >= 0xD800 && (c) <= 0xDFFF)

/* ---- an open-addressing hash table: uint64 key -> (int32 a, int32 b) ---------------------- */

/* Key, a and b side by side: a lookup touches one cache line, not three. */
typedef struct {
    uint64_t key;
    int32_t a, b;
} Entry;

typedef struct {
    Entry *slots;
    uint64_t mask;
} Table;

static inline uint64_t mix(uint64_t k) { /* the 64-bit finaliser of MurmurHash3 */
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static int table_init(Table *t, Py_ssize_t n) {
    uint64_t size = 16;
    while (size < (uint64_t)n * 2) size <<= 1; /* load factor <= 1/2 */
    t->mask = size - 1;
    t->slots = PyMem_Malloc(size * sizeof(Entry));
    if (!t->slots) return -1;
    for (uint64_t i = 0; i < size; i++) t->slots[i].key = EMPTY;
    return 0;
}

static void table_free(Table *t) {
    PyMem_Free(t->slots);
    t->slots = NULL;
}

static void table_put(Table *t, uint64_t key, int32_t a, int32_t b) { /* the first insert wins */
    uint64_t i = mix(key) & t->mask;
    while (t->slots[i].key != EMPTY) {
        if (t->slots[i].key == key) return;
        i = (i + 1) & t->mask;
    }
    t->slots[i] = (Entry){key, a, b};
}

/* The entry of key, or NULL. */
static inline const Entry *table_find(const Table *t, uint64_t key) {
    uint64_t i = mix(key) & t->mask;
    for (;;) {
        const Entry *s = &t->slots[i];
        if (s->key == key) return s;
        if (s->key == EMPTY) return NULL;
        i = (i + 1) & t->mask;
    }
}

/* ---- the encoder object ------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int32_t *char_ids;
    Table merges; /* a = rank, b = result id */
    Table joins;  /* presence only */
    uint8_t *latin_joins; /* joinable pairs with both code points below 256, as a dense 256 x 256 map */
    int32_t byte_ids[256];
    int has_bytes;
    int32_t unk;
    Py_ssize_t vocab_size;
    PyObject **ints; /* one int object per id, so building the result list allocates nothing */
    /* Special tokens, matched atomically before any cut: longest first, so the first match at a
     * position is the longest (the library's leftmost-longest). */
    Py_ssize_t n_specials;
    Py_UCS4 *special_text; /* all specials' code points, one after another */
    Py_ssize_t *special_start; /* n_specials + 1 offsets into special_text */
    int32_t *special_ids;
    uint8_t special_first[256]; /* code points below 256 that begin some special */
    int special_wide; /* some special begins with a code point >= 256 */
} Encoder;

/* The special token starting at text[i] (whose code point is c): its id and length, or 0. */
static inline int special_at(const Encoder *e, int kind, const void *data, Py_ssize_t n, Py_ssize_t i, Py_UCS4 c,
                             int32_t *id, Py_ssize_t *len) {
    if (c < 256 ? !e->special_first[c] : !e->special_wide) return 0;
    for (Py_ssize_t s = 0; s < e->n_specials; s++) {
        const Py_UCS4 *sp = e->special_text + e->special_start[s];
        Py_ssize_t m = e->special_start[s + 1] - e->special_start[s], k = 0;
        if (m > n - i || sp[0] != c) continue;
        while (k < m && PyUnicode_READ(kind, data, i + k) == sp[k]) k++;
        if (k == m) {
            *id = e->special_ids[s], *len = m;
            return 1;
        }
    }
    return 0;
}

static inline int joinable(const Encoder *e, Py_UCS4 x, Py_UCS4 y) {
    if (x < 256 && y < 256) return e->latin_joins[(x << 8) | y];
    return table_find(&e->joins, ((uint64_t)x << ID_BITS) | y) != NULL;
}

/* Rank and result of merging ids l and r; NO_MERGE when the pair has no merge. */
static inline int32_t pair_rank(const Encoder *e, int32_t l, int32_t r, int32_t *result) {
    const Entry *s = table_find(&e->merges, ((uint64_t)l << ID_BITS) | (uint64_t)r);
    if (!s) return NO_MERGE;
    *result = s->b;
    return s->a;
}

/* BPE in place on s[0..n): lowest rank first, leftmost on ties; returns the new length.
 * rank and res are scratch space of n entries. */
static Py_ssize_t merge_scan(const Encoder *e, int32_t *s, Py_ssize_t n, int32_t *rank, int32_t *res) {
    for (Py_ssize_t k = 0; k + 1 < n; k++) rank[k] = pair_rank(e, s[k], s[k + 1], &res[k]);
    while (n > 1) {
        Py_ssize_t best = 0;
        for (Py_ssize_t k = 1; k + 1 < n; k++)
            if (rank[k] < rank[best]) best = k;
        if (rank[best] == NO_MERGE) break;
        s[best] = res[best];
        /* drop symbol best+1 and pair best; pairs best-1 and best are new. Plain loops: chunks are a
         * few symbols long, where a call to memmove costs more than the copy. */
        for (Py_ssize_t k = best + 1; k + 1 < n; k++) s[k] = s[k + 1];
        for (Py_ssize_t k = best; k + 2 < n; k++) rank[k] = rank[k + 1], res[k] = res[k + 1];
        n--;
        if (best > 0) rank[best - 1] = pair_rank(e, s[best - 1], s[best], &res[best - 1]);
        if (best + 1 < n) rank[best] = pair_rank(e, s[best], s[best + 1], &res[best]);
    }
    return n;
}

/* ---- a binary min-heap of (rank << 32 | position) for long chunks -------------------------- */

static void heap_push(uint64_t *h, Py_ssize_t *len, uint64_t v) {
    Py_ssize_t i = (*len)++;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, Py_ssize_t *len) {
    uint64_t top = h[0], v = h[--(*len)];
    Py_ssize_t i = 0, n = *len;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = v;
    return top;
}

/* The same merge order over a linked list with a heap: O(n log n) for a long chunk.
 * A popped entry is stale when its symbol has merged away or its pair changed since it was queued. */
static Py_ssize_t merge_heap(const Encoder *e, int32_t *s, Py_ssize_t n) {
    if ((uint64_t)n > 0xffffffffu) return -1; /* positions are packed into 32 bits */
    Py_ssize_t *nxt = PyMem_RawMalloc(n * sizeof(Py_ssize_t));
    Py_ssize_t *prv = PyMem_RawMalloc(n * sizeof(Py_ssize_t));
    uint64_t *heap = PyMem_RawMalloc(3 * n * sizeof(uint64_t)); /* n initial + 2 per merge */
    uint8_t *alive = PyMem_RawMalloc(n);
    if (!nxt || !prv || !heap || !alive) {
        PyMem_RawFree(nxt), PyMem_RawFree(prv), PyMem_RawFree(heap), PyMem_RawFree(alive);
        return -1;
    }
    Py_ssize_t len = 0;
    int32_t result;
    for (Py_ssize_t i = 0; i < n; i++) {
        nxt[i] = i + 1 < n ? i + 1 : -1;
        prv[i] = i - 1;
        alive[i] = 1;
        if (i + 1 < n) {
            int32_t r = pair_rank(e, s[i], s[i + 1], &result);
            if (r != NO_MERGE) heap_push(heap, &len, ((uint64_t)r << 32) | (uint64_t)i);
        }
    }
    while (len) {
        uint64_t top = heap_pop(heap, &len);
        Py_ssize_t i = (Py_ssize_t)(top & 0xffffffffu);
        int32_t r = (int32_t)(top >> 32);
        Py_ssize_t j = nxt[i];
        if (!alive[i] || j < 0 || pair_rank(e, s[i], s[j], &result) != r) continue;
        s[i] = result;
        alive[j] = 0;
        nxt[i] = nxt[j];
        if (nxt[j] >= 0) prv[nxt[j]] = i;
        Py_ssize_t p = prv[i], q = nxt[i];
        int32_t r2;
        if (p >= 0 && (r2 = pair_rank(e, s[p], s[i], &result)) != NO_MERGE) heap_push(heap, &len, ((uint64_t)r2 << 32) | (uint64_t)p);
        if (q >= 0 && (r2 = pair_rank(e, s[i], s[q], &result)) != NO_MERGE) heap_push(heap, &len, ((uint64_t)r2 << 32) | (uint64_t)i);
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (alive[i]) s[m++] = s[i];
    PyMem_RawFree(nxt), PyMem_RawFree(prv), PyMem_RawFree(heap), PyMem_RawFree(alive);
    return m;
}

/* ---- encoding ------------------------------------------------------------------------------ */

enum { OK = 0, ERR_SURROGATE = 1, ERR_NO_ID = 2, ERR_MEMORY = 3 };

/* The initial symbols of one character: its own id, its UTF-8 byte tokens, or <unk>. */
static inline __attribute__((always_inline)) int push_char(const Encoder *e, Py_UCS4 c, int32_t *out, Py_ssize_t *o) {
    int32_t id = e->char_ids[c];
    if (id >= 0) {
        out[(*o)++] = id;
    } else if (e->has_bytes) {
        if (c < 0x80) {
            out[(*o)++] = e->byte_ids[c];
        } else if (c < 0x800) {
            out[(*o)++] = e->byte_ids[0xC0 | (c >> 6)];
            out[(*o)++] = e->byte_ids[0x80 | (c & 0x3F)];
        } else if (c < 0x10000) {
            out[(*o)++] = e->byte_ids[0xE0 | (c >> 12)];
            out[(*o)++] = e->byte_ids[0x80 | ((c >> 6) & 0x3F)];
            out[(*o)++] = e->byte_ids[0x80 | (c & 0x3F)];
        } else {
            out[(*o)++] = e->byte_ids[0xF0 | (c >> 18)];
            out[(*o)++] = e->byte_ids[0x80 | ((c >> 12) & 0x3F)];
            out[(*o)++] = e->byte_ids[0x80 | ((c >> 6) & 0x3F)];
            out[(*o)++] = e->byte_ids[0x80 | (c & 0x3F)];
        }
    } else if (e->unk >= 0) {
        out[(*o)++] = e->unk;
    } else {
        return ERR_NO_ID;
    }
    return OK;
}

/* ---- a per-call chunk cache ------------------------------------------------------------------
 * Words repeat: 0.5 MB of English holds about 72,000 chunks of two or more characters but only
 * 5,600 distinct ones. A slot keeps a short chunk's code points inline (one cache line holds the
 * hash, the key and where its ids were first written in the output, which is never rewritten), and
 * the table starts small and doubles, so it stays in the CPU's cache. It lives for one call, so
 * threads that share an Encoder never share a cache. */

#define KEY_BYTES 24 /* longer chunks (rare in any script) are merged every time */
#define CACHE_MIN_TEXT 512 /* shorter texts are not worth the table */
#define CACHE_FIRST_SLOTS 1024
#define CACHE_MAX_SLOTS (1 << 16)

typedef struct {
    uint64_t hash; /* 0: empty */
    uint64_t key[KEY_BYTES / 8]; /* the chunk's code points, kind bytes each, zero-padded */
    uint32_t val; /* where its ids start in the output buffer */
    uint8_t vlen, kind, nbytes, unused; /* kind: 1, 2 or 4 bytes per code point of key */
} Slot;

typedef struct {
    Slot *slots; /* NULL: no cache */
    uint64_t mask;
    Py_ssize_t used;
    const int32_t *base; /* the output buffer the val offsets point into */
} Cache;

static void cache_init(Cache *c, Py_ssize_t n_chars, const int32_t *base) {
    c->mask = CACHE_FIRST_SLOTS - 1, c->used = 0, c->base = base;
    c->slots = n_chars < CACHE_MIN_TEXT ? NULL : PyMem_RawCalloc(CACHE_FIRST_SLOTS, sizeof(Slot)); /* NULL: slower, not wrong */
}

static void cache_free(Cache *c) { PyMem_RawFree(c->slots), c->slots = NULL; }

static inline int same_key(const Slot *s, uint64_t h, const uint64_t *key, int nbytes, int kind) {
    return s->hash == h && s->nbytes == nbytes && s->kind == kind && s->key[0] == key[0] && s->key[1] == key[1] &&
           s->key[2] == key[2];
}

/* The slot holding this chunk, or the empty slot where it would go (the load factor stays <= 1/2). */
static inline Slot *cache_find(const Cache *c, uint64_t h, const uint64_t *key, int nbytes, int kind) {
    uint64_t i = h & c->mask;
    for (;;) {
        Slot *s = &c->slots[i];
        if (s->hash == 0 || same_key(s, h, key, nbytes, kind)) return s;
        i = (i + 1) & c->mask;
    }
}

/* Double the table; 0 when it is at its largest or memory is short (then nothing more is cached). */
static int cache_grow(Cache *c) {
    uint64_t size = (c->mask + 1) * 2;
    if (size > CACHE_MAX_SLOTS) return 0;
    Slot *old = c->slots, *slots = PyMem_RawCalloc(size, sizeof(Slot));
    if (!slots) return 0;
    for (uint64_t i = 0; i <= c->mask; i++) {
        if (!old[i].hash) continue;
        uint64_t j = old[i].hash & (size - 1);
        while (slots[j].hash) j = (j + 1) & (size - 1);
        slots[j] = old[i];
    }
    c->slots = slots, c->mask = size - 1;
    PyMem_RawFree(old);
    return 1;
}

/* Remember that the chunk key encodes to out[start..start+len). */
static void cache_put(Cache *c, Slot *slot, uint64_t h, const uint64_t *key, int nbytes, int kind, const int32_t *ids,
                      Py_ssize_t len) {
    Py_ssize_t at = ids - c->base;
    if (len > 255 || at > (Py_ssize_t)UINT32_MAX) return;
    if ((uint64_t)(c->used + 1) * 2 > c->mask + 1) {
        if (!cache_grow(c)) return;
        slot = cache_find(c, h, key, nbytes, kind);
    }
    slot->hash = h, slot->nbytes = (uint8_t)nbytes, slot->kind = (uint8_t)kind;
    slot->key[0] = key[0], slot->key[1] = key[1], slot->key[2] = key[2];
    slot->val = (uint32_t)at, slot->vlen = (uint8_t)len;
    c->used++;
}

/* Encode text[0..n) into out (room for 4n ids); runs without the GIL. *where gets the index of a
 * lone surrogate. scratch holds 2 * LONG_CHUNK int32 for merge_scan. Each chunk is first read
 * (cut, surrogate check), then either copied from the cache or built from its characters and
 * merged. */
static inline __attribute__((always_inline)) int encode_kind(const Encoder *e, Cache *cache, const int kind, const void *data,
                                                            Py_ssize_t n, int32_t *out, Py_ssize_t *n_out, int32_t *scratch,
                                                            Py_ssize_t *where) {
    Py_ssize_t o = 0, i = 0;
    while (i < n) {
        Py_ssize_t begin = i, slen;
        Py_UCS4 prev = PyUnicode_READ(kind, data, i);
        int32_t sid;
        if (special_at(e, kind, data, n, i, prev, &sid, &slen)) {
            out[o++] = sid;
            i += slen;
            continue;
        }
        Py_UCS4 any = 0; /* every code point or-ed: the width the key needs */
        for (;;) {
            if (IS_SURROGATE(prev)) {
                *where = i;
                return ERR_SURROGATE;
            }
            any |= prev;
            if (++i >= n) break;
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (!joinable(e, prev, c) || special_at(e, kind, data, n, i, c, &sid, &slen)) break;
            prev = c;
        }
        Py_ssize_t klen = i - begin;
        if (klen == 1) {
            if (push_char(e, prev, out, &o) != OK) return ERR_NO_ID;
            continue;
        }
        Slot *slot = NULL;
        uint64_t key[KEY_BYTES / 8] = {0, 0, 0};
        /* The key in the narrowest width its characters allow, whatever the width of the str, so an
         * English word in a text that also holds an emoji still fits. */
        int width = any < 0x100 ? 1 : any < 0x10000 ? 2 : 4, nbytes = (int)(klen * width);
        uint64_t h = 0;
        if (cache->slots && nbytes <= KEY_BYTES) {
            /* Whole words are or-ed in: byte stores read back as a word would stall the load. */
            for (int k = 0, bit = 0; k < klen; k++, bit += 8 * width)
                key[bit >> 6] |= (uint64_t)PyUnicode_READ(kind, data, begin + k) << (bit & 63);
            h = key[0] * 0x9E3779B97F4A7C15ULL ^ key[1] * 0xC2B2AE3D27D4EB4FULL ^ key[2] * 0x165667B19E3779F9ULL;
            h = mix(h ^ (uint64_t)nbytes << 3 ^ (uint64_t)width) | 1; /* never 0, the empty mark */
            slot = cache_find(cache, h, key, nbytes, width);
            if (slot->hash) {
                const int32_t *ids = cache->base + slot->val;
                for (int k = 0; k < slot->vlen; k++) out[o + k] = ids[k];
                o += slot->vlen;
                continue;
            }
        }
        Py_ssize_t start = o;
        for (Py_ssize_t k = begin; k < i; k++)
            if (push_char(e, PyUnicode_READ(kind, data, k), out, &o) != OK) return ERR_NO_ID;
        Py_ssize_t len = o - start;
        if (len > LONG_CHUNK) {
            len = merge_heap(e, out + start, len);
            if (len < 0) return ERR_MEMORY;
        } else if (len > 1) {
            len = merge_scan(e, out + start, len, scratch, scratch + LONG_CHUNK);
        }
        o = start + len;
        if (slot) cache_put(cache, slot, h, key, nbytes, width, out + start, len);
    }
    *n_out = o;
    return OK;
}

/* One copy of the loop per string width, so reading a character is a plain load. */
static int encode_text(const Encoder *e, Cache *cache, int kind, const void *data, Py_ssize_t n, int32_t *out,
                       Py_ssize_t *n_out, int32_t *scratch, Py_ssize_t *where) {
    switch (kind) {
    case PyUnicode_1BYTE_KIND: return encode_kind(e, cache, PyUnicode_1BYTE_KIND, data, n, out, n_out, scratch, where);
    case PyUnicode_2BYTE_KIND: return encode_kind(e, cache, PyUnicode_2BYTE_KIND, data, n, out, n_out, scratch, where);
    default: return encode_kind(e, cache, PyUnicode_4BYTE_KIND, data, n, out, n_out, scratch, where);
    }
}

static PyObject *raise_encode_error(int err, Py_ssize_t where) {
    if (err == ERR_SURROGATE)
        PyErr_Format(PyExc_ValueError, "text holds a lone surrogate at index %zd: not a Unicode scalar value", where);
    else if (err == ERR_NO_ID)
        PyErr_SetString(PyExc_LookupError, "a character has no id and the vocabulary has no unknown token");
    else
        PyErr_NoMemory();
    return NULL;
}

/* A list of the cached int objects for ids[0..n). */
static PyObject *id_list(const Encoder *self, const int32_t *ids, Py_ssize_t n) {
    PyObject *list = PyList_New(n);
    if (!list) return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *v = self->ints[ids[k]];
        Py_INCREF(v);
        PyList_SET_ITEM(list, k, v);
    }
    return list;
}

static int check_text(PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "encode expects a str, got %s", Py_TYPE(text)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) return -1;
#endif
    return 0;
}

/* Encode items[0..m) (checked str objects) into one buffer, all in one stretch without the GIL
 * (so threads that each take a share of a batch run in parallel) and with one chunk cache (the
 * texts of a batch share their words). (*ends)[t] is where the ids of text t end. Returns NULL
 * with an exception set on error; the caller frees both buffers with PyMem_RawFree. */
static int32_t *encode_all(Encoder *self, PyObject *const *items, Py_ssize_t m, Py_ssize_t **ends_out) {
    Py_ssize_t total = 0;
    for (Py_ssize_t t = 0; t < m; t++) total += PyUnicode_GET_LENGTH(items[t]);
    int32_t *out = PyMem_RawMalloc(((size_t)total * (self->has_bytes ? 4 : 1) + 1) * sizeof(int32_t));
    Py_ssize_t *ends = PyMem_RawMalloc((m + 1) * sizeof(Py_ssize_t));
    int32_t scratch[2 * LONG_CHUNK];
    if (!out || !ends) {
        PyMem_RawFree(out), PyMem_RawFree(ends);
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t o = 0, where = 0, n_out = 0;
    int err = OK;
    Cache cache;
    Py_BEGIN_ALLOW_THREADS
    cache_init(&cache, total, out);
    for (Py_ssize_t t = 0; t < m && err == OK; t++) {
        PyObject *text = items[t];
        err = encode_text(self, &cache, PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), out + o,
                          &n_out, scratch, &where);
        o += n_out;
        ends[t] = o;
    }
    cache_free(&cache);
    Py_END_ALLOW_THREADS
    if (err != OK) {
        PyMem_RawFree(out), PyMem_RawFree(ends);
        raise_encode_error(err, where);
        return NULL;
    }
    *ends_out = ends;
    return out;
}

/* One text's ids (``*n`` of them); NULL with an exception set. */
static int32_t *encode_one(Encoder *self, PyObject *text, Py_ssize_t *n) {
    if (check_text(text) < 0) return NULL;
    Py_ssize_t *ends;
    int32_t *out = encode_all(self, &text, 1, &ends);
    if (!out) return NULL;
    *n = ends[0];
    PyMem_RawFree(ends);
    return out;
}

static PyObject *Encoder_encode(Encoder *self, PyObject *text) {
    Py_ssize_t n;
    int32_t *out = encode_one(self, text, &n);
    if (!out) return NULL;
    PyObject *list = id_list(self, out, n);
    PyMem_RawFree(out);
    return list;
}

static PyObject *Encoder_encode_buffer(Encoder *self, PyObject *text) {
    Py_ssize_t n;
    int32_t *out = encode_one(self, text, &n);
    if (!out) return NULL;
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)out, n * (Py_ssize_t)sizeof(int32_t));
    PyMem_RawFree(out);
    return bytes;
}

/* A tuple of our own holding checked str objects: the caller's list may change while the GIL is
 * released; str objects cannot. */
static PyObject *text_tuple(PyObject *texts) {
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq) return NULL;
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(seq); t++)
        if (check_text(PyTuple_GET_ITEM(seq, t)) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    return seq;
}

/* All texts' ids back to back (``*m`` texts; text t's ids end at ``(*ends)[t]``); NULL with an exception set. */
static int32_t *encode_texts(Encoder *self, PyObject *texts, Py_ssize_t *m, Py_ssize_t **ends) {
    PyObject *seq = text_tuple(texts);
    if (!seq) return NULL;
    *m = PyTuple_GET_SIZE(seq);
    int32_t *out = encode_all(self, &PyTuple_GET_ITEM(seq, 0), *m, ends);
    Py_DECREF(seq);
    return out;
}

static PyObject *Encoder_encode_many(Encoder *self, PyObject *texts) {
    Py_ssize_t m, *ends;
    int32_t *out = encode_texts(self, texts, &m, &ends);
    if (!out) return NULL;
    PyObject *result = PyList_New(m);
    for (Py_ssize_t t = 0, start = 0; result && t < m; start = ends[t++]) {
        PyObject *ids = id_list(self, out + start, ends[t] - start);
        if (!ids) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, t, ids);
    }
    PyMem_RawFree(out), PyMem_RawFree(ends);
    return result;
}

/* (ids, ends): all texts' ids as native int32 bytes, and as native int64 bytes where each text's ids end. */
static PyObject *Encoder_encode_many_buffer(Encoder *self, PyObject *texts) {
    Py_ssize_t m, *ends;
    int32_t *out = encode_texts(self, texts, &m, &ends);
    if (!out) return NULL;
    PyObject *ids = PyBytes_FromStringAndSize((const char *)out, (m ? ends[m - 1] : 0) * (Py_ssize_t)sizeof(int32_t));
    PyObject *where = PyBytes_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(int64_t));
    if (where)
        for (Py_ssize_t t = 0; t < m; t++) ((int64_t *)PyBytes_AS_STRING(where))[t] = ends[t];
    PyMem_RawFree(out), PyMem_RawFree(ends);
    PyObject *result = ids && where ? PyTuple_Pack(2, ids, where) : NULL;
    Py_XDECREF(ids), Py_XDECREF(where);
    return result;
}

static int read_buffer(PyObject *obj, Py_ssize_t itemsize, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len % itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: buffer length %zd is not a multiple of %zd", what, view->len, itemsize);
        return -1;
    }
    return 0;
}

/* specials: a list of (str, id), longest first; the order is the matching order. */
static int init_specials(Encoder *self, PyObject *specials) {
    Py_ssize_t ns = PyList_GET_SIZE(specials), total = 0;
    for (Py_ssize_t s = 0; s < ns; s++) {
        PyObject *item = PyList_GET_ITEM(specials, s);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(item, 0)) ||
            PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 0)) == 0) {
            PyErr_SetString(PyExc_ValueError, "Encoder: specials must be (non-empty str, id) pairs");
            return -1;
        }
        total += PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(item, 0));
    }
    self->special_text = PyMem_Malloc((total + 1) * sizeof(Py_UCS4));
    self->special_start = PyMem_Malloc((ns + 1) * sizeof(Py_ssize_t));
    self->special_ids = PyMem_Malloc((ns + 1) * sizeof(int32_t));
    if (!self->special_text || !self->special_start || !self->special_ids) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t s = 0; s < ns; s++) {
        PyObject *str = PyTuple_GET_ITEM(PyList_GET_ITEM(specials, s), 0);
        long id = PyLong_AsLong(PyTuple_GET_ITEM(PyList_GET_ITEM(specials, s), 1));
        if (id == -1 && PyErr_Occurred()) return -1;
        if (id < 0 || id >= self->vocab_size) {
            PyErr_SetString(PyExc_ValueError, "Encoder: an id lies outside the vocabulary");
            return -1;
        }
        Py_ssize_t m = PyUnicode_GET_LENGTH(str);
        if (!PyUnicode_AsUCS4(str, self->special_text + at, total + 1 - at, 0)) return -1;
        Py_UCS4 first = self->special_text[at];
        if (first < 256)
            self->special_first[first] = 1;
        else
            self->special_wide = 1;
        self->special_start[s] = at;
        self->special_ids[s] = (int32_t)id;
        at += m;
    }
    self->special_start[ns] = at;
    self->n_specials = ns;
    return 0;
}

static void Encoder_dealloc(Encoder *self) {
    PyMem_Free(self->char_ids);
    PyMem_Free(self->latin_joins);
    PyMem_Free(self->special_text);
    PyMem_Free(self->special_start);
    PyMem_Free(self->special_ids);
    table_free(&self->merges);
    table_free(&self->joins);
    if (self->ints) {
        for (Py_ssize_t i = 0; i < self->vocab_size; i++) Py_XDECREF(self->ints[i]);
        PyMem_Free(self->ints);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    PyObject *o_chars, *o_keys, *o_ranks, *o_results, *o_joins, *o_bytes, *o_specials;
    int unk;
    Py_ssize_t vocab_size;
    if (!PyArg_ParseTuple(args, "OOOOOOinO!", &o_chars, &o_keys, &o_ranks, &o_results, &o_joins, &o_bytes, &unk, &vocab_size,
                          &PyList_Type, &o_specials))
        return -1;
    if (self->char_ids) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is already initialised");
        return -1;
    }
    if (vocab_size < 1 || vocab_size > (1 << ID_BITS)) {
        PyErr_Format(PyExc_ValueError, "vocab_size %zd is outside 1..2^%d", vocab_size, ID_BITS);
        return -1;
    }
    Py_buffer chars = {0}, keys = {0}, ranks = {0}, results = {0}, joins = {0}, bytes = {0};
    int rc = -1;
    if (read_buffer(o_chars, 4, &chars, "char_ids") < 0 || read_buffer(o_keys, 8, &keys, "merge_keys") < 0 ||
        read_buffer(o_ranks, 4, &ranks, "merge_ranks") < 0 || read_buffer(o_results, 4, &results, "merge_results") < 0 ||
        read_buffer(o_joins, 8, &joins, "join_keys") < 0 || read_buffer(o_bytes, 4, &bytes, "byte_ids") < 0)
        goto done;
    Py_ssize_t m = keys.len / 8, nj = joins.len / 8;
    if (chars.len != N_CODEPOINTS * 4 || ranks.len / 4 != m || results.len / 4 != m || (bytes.len != 0 && bytes.len != 256 * 4)) {
        PyErr_SetString(PyExc_ValueError, "Encoder: inconsistent table sizes");
        goto done;
    }
    const int32_t *cid = chars.buf, *rk = ranks.buf, *rs = results.buf, *bid = bytes.buf;
    const uint64_t *ky = keys.buf, *jk = joins.buf;
    /* Every id the encoder can emit must be inside the vocabulary: it indexes self->ints. */
    for (Py_ssize_t i = 0; i < N_CODEPOINTS; i++)
        if (cid[i] >= vocab_size || cid[i] < -1) goto bad_id;
    for (Py_ssize_t i = 0; i < m; i++)
        if (rs[i] < 0 || rs[i] >= vocab_size || rk[i] < 0 || rk[i] == NO_MERGE || (ky[i] >> (2 * ID_BITS))) goto bad_id;
    for (Py_ssize_t i = 0; i < (Py_ssize_t)(bytes.len / 4); i++)
        if (bid[i] < 0 || bid[i] >= vocab_size) goto bad_id;
    if (unk >= vocab_size) goto bad_id;

    self->char_ids = PyMem_Malloc(chars.len);
    self->latin_joins = PyMem_Calloc(256 * 256, 1);
    self->ints = PyMem_Calloc(vocab_size, sizeof(PyObject *));
    self->vocab_size = vocab_size;
    if (!self->char_ids || !self->latin_joins || !self->ints || table_init(&self->merges, m) < 0 || table_init(&self->joins, nj) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(self->char_ids, cid, chars.len);
    for (Py_ssize_t i = 0; i < m; i++) table_put(&self->merges, ky[i], rk[i], rs[i]);
    for (Py_ssize_t i = 0; i < nj; i++) {
        uint64_t x = jk[i] >> ID_BITS, y = jk[i] & ((1u << ID_BITS) - 1);
        if (x < 256 && y < 256) self->latin_joins[(x << 8) | y] = 1;
        table_put(&self->joins, jk[i], 0, 0);
    }
    self->has_bytes = bytes.len != 0;
    if (self->has_bytes) memcpy(self->byte_ids, bid, sizeof(self->byte_ids));
    self->unk = unk;
    if (init_specials(self, o_specials) < 0) goto done;
    for (Py_ssize_t i = 0; i < vocab_size; i++)
        if (!(self->ints[i] = PyLong_FromSsize_t(i))) goto done;
    rc = 0;
    goto done;
bad_id:
    PyErr_SetString(PyExc_ValueError, "Encoder: an id lies outside the vocabulary");
done:
    PyBuffer_Release(&chars), PyBuffer_Release(&keys), PyBuffer_Release(&ranks);
    PyBuffer_Release(&results), PyBuffer_Release(&joins), PyBuffer_Release(&bytes);
    return rc;
}

static PyMethodDef Encoder_methods[] = {
    {"encode", (PyCFunction)Encoder_encode, METH_O, "encode(text) -> list[int]: BPE ids of a text, special tokens matched atomically."},
    {"encode_buffer", (PyCFunction)Encoder_encode_buffer, METH_O, "encode_buffer(text) -> bytes: encode()'s ids as native int32."},
    {"encode_many", (PyCFunction)Encoder_encode_many, METH_O, "encode_many(texts) -> list[list[int]]: encode() of each, in one pass without the GIL."},
    {"encode_many_buffer", (PyCFunction)Encoder_encode_many_buffer, METH_O,
     "encode_many_buffer(texts) -> (bytes, bytes): all ids as native int32 and each text's end as native int64."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "unicode_substrate.tokenizer._bpe.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Native BPE over a prepared merge table (built by encoder.Tokenizer).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bpe", "Native BPE for unicode_substrate's encoder.", -1, NULL};

PyMODINIT_FUNC PyInit__bpe(void) {
    if (PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
