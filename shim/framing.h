/*
 * framing.h: the request-framing check of framing.c.  No h2o types, so the
 * fuzz harness can use it alone.
 */
#ifndef FRAMING_H
#define FRAMING_H

#include <stddef.h>

/*
 * buf[0..len) starts with an HTTP/1.x request as received (request line,
 * header fields, empty line; the body may follow).  Returns NULL when the
 * head frames its body unambiguously, otherwise a sentence for the client
 * saying why not.  method (method_len bytes) must be the request line's
 * method, so that bytes of another request are never checked by mistake.
 */
const char *framing_check(const char *buf, size_t len, const char *method, size_t method_len);

#endif
