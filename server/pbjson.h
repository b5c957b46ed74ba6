/* pbjson.h - pbjson_render: any protobuf-c message as JSON, driven by its
 * descriptor (the status page's /status.json). Field names as in the
 * proto, 64-bit integers as strings (JavaScript numbers lose them past
 * 2^53), enums by name, bytes in base64, unset sub-messages as null.
 * Header-only: http.c is its one user. */
#ifndef PBJSON_H
#define PBJSON_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

typedef struct hj_buf {
    char *p;
    size_t len, cap;
    bool oom;
} hj_buf;

static void
hj_put(hj_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void hj_printf(hj_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
hj_printf(hj_buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        hj_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void
hj_str(hj_buf *b, const char *s)
{
    hj_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            hj_put(b, e, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            hj_printf(b, "\\u%04x", *c);
        } else {
            hj_put(b, (const char *)c, 1);
        }
    }
    hj_put(b, "\"", 1);
}

static void hj_msg(hj_buf *b, const ProtobufCMessage *m);

static void
hj_value(hj_buf *b, const ProtobufCFieldDescriptor *f, const void *p)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        hj_printf(b, "%" PRId32, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        hj_printf(b, "%" PRIu32, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        hj_printf(b, "\"%" PRId64 "\"", *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        hj_printf(b, "\"%" PRIu64 "\"", *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        hj_printf(b, "%.9g", (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        hj_printf(b, "%.17g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        hj_printf(b, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        if (ev != NULL)
            hj_str(b, ev->name);
        else
            hj_printf(b, "%d", *(const int *)p);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        hj_str(b, *(char *const *)p ? *(char *const *)p : "");
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = p;
        hj_put(b, "\"", 1);
        for (size_t i = 0; i < d->len; i += 3) {
            uint32_t v = (uint32_t)d->data[i] << 16;
            if (i + 1 < d->len)
                v |= (uint32_t)d->data[i + 1] << 8;
            if (i + 2 < d->len)
                v |= d->data[i + 2];
            char o[4] = {b64[v >> 18], b64[(v >> 12) & 63], i + 1 < d->len ? b64[(v >> 6) & 63] : '=',
                         i + 2 < d->len ? b64[v & 63] : '='};
            hj_put(b, o, 4);
        }
        hj_put(b, "\"", 1);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        hj_msg(b, *(const ProtobufCMessage *const *)p);
        break;
    default:
        hj_put(b, "null", 4);
    }
}

static size_t
hj_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static void
hj_msg(hj_buf *b, const ProtobufCMessage *m)
{
    if (m == NULL) {
        hj_put(b, "null", 4);
        return;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool first = true;
    hj_put(b, "{", 1);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (!first)
            hj_put(b, ",", 1);
        first = false;
        hj_str(b, f->name);
        hj_put(b, ":", 1);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            hj_put(b, "[", 1);
            for (size_t k = 0; k < n; k++) {
                if (k)
                    hj_put(b, ",", 1);
                hj_value(b, f, arr + k * hj_size(f));
            }
            hj_put(b, "]", 1);
        } else {
            hj_value(b, f, base + f->offset);
        }
    }
    hj_put(b, "}", 1);
}

static char *
pbjson_render(const ProtobufCMessage *m, size_t *lenp)
{
    hj_buf b = {0};
    hj_msg(&b, m);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *lenp = b.len;
    return b.p;
}

#endif
