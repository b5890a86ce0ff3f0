/*
 * framing_req.c: the request-framing check (framing.c) on a request h2o has
 * parsed.
 *
 * h2o 2.2.5 keeps Content-Length and Transfer-Encoding out of req->headers
 * (they are "init header special" tokens, consumed while framing the body),
 * so the only place the shim can see them is the raw request: for HTTP/1,
 * h2o parses each request at the start of the connection's input buffer and
 * consumes it only after the response has been sent, so while the handler
 * runs the head is still there, at sock->input->bytes.  framing_check()
 * verifies that the bytes start with this request's method and fails closed
 * (400) when they do not look like a request head.
 */
#include "shim.h"

int
framing_refused(h2o_req_t *req)
{
	h2o_socket_t *sock = NULL;
	const char *why;

	/* HTTP/2 frames carry their own lengths (and h2c is switched off) */
	if (req->version >= 0x200)
		return 0;
	if (req->conn->callbacks->get_socket)
		sock = req->conn->callbacks->get_socket(req->conn);
	if (sock == NULL || sock->input == NULL)
		why = "the request head could not be read";
	else
		why = framing_check(sock->input->bytes, sock->input->size,
							req->input.method.base, req->input.method.len);
	if (why == NULL)
		return 0;
	/* answer, then close: what follows on this connection is not trusted */
	req->http1_is_persistent = 0;
	send_problem(req, 400, "ambiguous_framing", why, NULL, 0);
	return 1;
}
