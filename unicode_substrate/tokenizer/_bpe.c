/* Native BPE for the fast encoder: the same cuts and merge order as encoder.py, in C.
 *
 * encoder.py explains why the result equals the Hugging Face BPE model: a token can only span
 * two adjacent characters x y when "xy" occurs inside some merge result, so the text is cut at
 * every other boundary and each chunk is merged on its own, lowest rank first and leftmost on
 * ties. The Python path does that with numpy and a dict cache; its cost is dominated by making
 * one Python string per chunk. Here the text is read in place, the chunks never become objects,
 * and the GIL is released while merging.
 *
 * Encoder(char_ids, merge_keys, merge_ranks, merge_results, join_keys, byte_ids, unk, vocab_size)
 *   char_ids      int32[0x110000]  id of the one-character token of a code point, -1 if none
 *   merge_keys    uint64[m]        left_id << 21 | right_id, first listing of each pair only
 *   merge_ranks   int32[m]         the merge's rank (its position in the merge list)
 *   merge_results int32[m]         id of the merged token
 *   join_keys     uint64[j]        x << 21 | y for adjacent code points x y inside a merge result
 *   byte_ids      int32[256] or empty   byte-fallback token ids (empty: no byte fallback)
 *   unk           id of the unknown token, or -1
 * Encoder.encode(text) -> list[int];  Encoder.encode_many(texts) -> list[list[int]]
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

typedef struct {
    uint64_t *keys;
    int32_t *a, *b;
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
    t->keys = PyMem_Malloc(size * sizeof(uint64_t));
    t->a = PyMem_Malloc(size * sizeof(int32_t));
    t->b = PyMem_Malloc(size * sizeof(int32_t));
    if (!t->keys || !t->a || !t->b) return -1;
    memset(t->keys, 0xff, size * sizeof(uint64_t)); /* every slot EMPTY */
    return 0;
}

static void table_free(Table *t) {
    PyMem_Free(t->keys);
    PyMem_Free(t->a);
    PyMem_Free(t->b);
    t->keys = NULL, t->a = t->b = NULL;
}

static void table_put(Table *t, uint64_t key, int32_t a, int32_t b) { /* the first insert wins */
    uint64_t i = mix(key) & t->mask;
    while (t->keys[i] != EMPTY) {
        if (t->keys[i] == key) return;
        i = (i + 1) & t->mask;
    }
    t->keys[i] = key, t->a[i] = a, t->b[i] = b;
}

static inline int64_t table_find(const Table *t, uint64_t key) {
    uint64_t i = mix(key) & t->mask;
    for (;;) {
        uint64_t k = t->keys[i];
        if (k == key) return (int64_t)i;
        if (k == EMPTY) return -1;
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
} Encoder;

static inline int joinable(const Encoder *e, Py_UCS4 x, Py_UCS4 y) {
    if (x < 256 && y < 256) return e->latin_joins[(x << 8) | y];
    return table_find(&e->joins, ((uint64_t)x << ID_BITS) | y) >= 0;
}

/* Rank and result of merging ids l and r; NO_MERGE when the pair has no merge. */
static inline int32_t pair_rank(const Encoder *e, int32_t l, int32_t r, int32_t *result) {
    int64_t s = table_find(&e->merges, ((uint64_t)l << ID_BITS) | (uint64_t)r);
    if (s < 0) return NO_MERGE;
    *result = e->merges.b[s];
    return e->merges.a[s];
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
        /* drop symbol best+1 and pair best; pairs best-1 and best are new */
        memmove(s + best + 1, s + best + 2, (n - best - 2) * sizeof(int32_t));
        memmove(rank + best, rank + best + 1, (n - best - 2) * sizeof(int32_t));
        memmove(res + best, res + best + 1, (n - best - 2) * sizeof(int32_t));
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
static inline int push_char(const Encoder *e, Py_UCS4 c, int32_t *out, Py_ssize_t *o) {
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

/* Encode text[0..n) into out (room for 4n ids); runs without the GIL. *where gets the index of a
 * lone surrogate. scratch holds 2 * LONG_CHUNK int32 for merge_scan. */
static int encode_text(const Encoder *e, int kind, const void *data, Py_ssize_t n, int32_t *out, Py_ssize_t *n_out,
                       int32_t *scratch, Py_ssize_t *where) {
    Py_ssize_t o = 0, i = 0;
    while (i < n) {
        Py_ssize_t start = o;
        Py_UCS4 prev = PyUnicode_READ(kind, data, i);
        for (;;) {
            if (IS_SURROGATE(prev)) {
                *where = i;
                return ERR_SURROGATE;
            }
            if (push_char(e, prev, out, &o) != OK) return ERR_NO_ID;
            if (++i >= n) break;
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (!joinable(e, prev, c)) break;
            prev = c;
        }
        Py_ssize_t len = o - start;
        if (len > LONG_CHUNK) {
            len = merge_heap(e, out + start, len);
            if (len < 0) return ERR_MEMORY;
        } else if (len > 1) {
            len = merge_scan(e, out + start, len, scratch, scratch + LONG_CHUNK);
        }
        o = start + len;
    }
    *n_out = o;
    return OK;
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

static PyObject *Encoder_encode(Encoder *self, PyObject *text) {
    if (check_text(text) < 0) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int32_t *out = PyMem_RawMalloc(((size_t)n * (self->has_bytes ? 4 : 1) + 1) * sizeof(int32_t));
    int32_t scratch[2 * LONG_CHUNK];
    if (!out) return PyErr_NoMemory();
    Py_ssize_t n_out = 0, where = 0;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = encode_text(self, kind, data, n, out, &n_out, scratch, &where);
    Py_END_ALLOW_THREADS
    PyObject *list = err == OK ? id_list(self, out, n_out) : raise_encode_error(err, where);
    PyMem_RawFree(out);
    return list;
}

/* Many texts in one call: all are merged in one stretch without the GIL, so threads that each
 * take a share of a batch run in parallel. */
static PyObject *Encoder_encode_many(Encoder *self, PyObject *texts) {
    /* A tuple of our own: the caller's list may change while the GIL is released; str objects cannot. */
    PyObject *seq = PySequence_Tuple(texts);
    if (!seq) return NULL;
    Py_ssize_t m = PyTuple_GET_SIZE(seq), total = 0;
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    for (Py_ssize_t t = 0; t < m; t++) {
        if (check_text(items[t]) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
        total += PyUnicode_GET_LENGTH(items[t]);
    }
    int32_t *out = PyMem_RawMalloc(((size_t)total * (self->has_bytes ? 4 : 1) + 1) * sizeof(int32_t));
    Py_ssize_t *ends = PyMem_RawMalloc((m + 1) * sizeof(Py_ssize_t));
    int32_t scratch[2 * LONG_CHUNK];
    if (!out || !ends) {
        PyMem_RawFree(out), PyMem_RawFree(ends);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_ssize_t o = 0, where = 0, n_out = 0;
    int err = OK;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < m && err == OK; t++) {
        PyObject *text = items[t];
        err = encode_text(self, PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), out + o, &n_out,
                          scratch, &where);
        o += n_out;
        ends[t] = o;
    }
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (err != OK) {
        raise_encode_error(err, where);
    } else if ((result = PyList_New(m))) {
        for (Py_ssize_t t = 0, start = 0; t < m; start = ends[t++]) {
            PyObject *ids = id_list(self, out + start, ends[t] - start);
            if (!ids) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, t, ids);
        }
    }
    PyMem_RawFree(out), PyMem_RawFree(ends);
    Py_DECREF(seq);
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

static void Encoder_dealloc(Encoder *self) {
    PyMem_Free(self->char_ids);
    PyMem_Free(self->latin_joins);
    table_free(&self->merges);
    table_free(&self->joins);
    if (self->ints) {
        for (Py_ssize_t i = 0; i < self->vocab_size; i++) Py_XDECREF(self->ints[i]);
        PyMem_Free(self->ints);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    PyObject *o_chars, *o_keys, *o_ranks, *o_results, *o_joins, *o_bytes;
    int unk;
    Py_ssize_t vocab_size;
    if (!PyArg_ParseTuple(args, "OOOOOOin", &o_chars, &o_keys, &o_ranks, &o_results, &o_joins, &o_bytes, &unk, &vocab_size))
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
    {"encode", (PyCFunction)Encoder_encode, METH_O, "encode(text) -> list[int]: BPE ids of a text holding no special token."},
    {"encode_many", (PyCFunction)Encoder_encode_many, METH_O, "encode_many(texts) -> list[list[int]]: encode() of each, in one pass without the GIL."},
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
