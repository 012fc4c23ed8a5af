/*
 * libiopkt — the client library of an iopkt stack (SPEC §3, DESIGN "The
 * client data path"). Programs and the utilities link it to use a stack's
 * sockets without the preload library.
 *
 * The calls mirror BSD sockets with an iopkt_ prefix and the same contract:
 * 0 / a count on success, -1 with errno on failure. After a failure,
 * iopkt_last_error() says why in words (the stack's own message when it gave
 * one, e.g. why a driver refused to attach).
 *
 * The stack is reached at ${SOCK}/dev/socket (SOCK unset or empty:
 * /dev/socket) over one control connection per process, opened on first
 * use, shared by the threads under a mutex, and opened anew after fork() or
 * when SOCK names another stack.
 *
 * A stack socket is a real file descriptor (a socketpair end whose peer the
 * stack holds): poll, select, epoll, fcntl and dup work on it directly; close
 * it with iopkt_close() so the library forgets it. Domains other than
 * AF_INET/AF_INET6, and descriptors iopkt_socket() did not make, are passed
 * to the kernel's calls unchanged.
 */
#ifndef IOPKT_IOPKT_H
#define IOPKT_IOPKT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "iopkt/control.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why the calling thread's last failed iopkt call failed; never NULL. The
 * text stays valid until this thread's next iopkt call. A stack that cannot
 * be reached reads "no io-pkt stack at PATH: REASON". */
const char* iopkt_last_error(void);

/* The endpoint this process uses now: ${SOCK}/dev/socket. Copies at most
 * `len` bytes (NUL included) into `buf`; returns the full length. */
size_t iopkt_endpoint_path(char* buf, size_t len);

/* From now on this process uses the endpoint `prefix`/dev/socket (NULL or
 * "" = /dev/socket), whatever SOCK says later. The preload library pins
 * the SOCK a program started with: some programs clear their environment
 * (nginx's workers keep only TZ) yet go on using the stack's sockets. */
void iopkt_pin_endpoint(const char* prefix);

/* Closes the control connection (the next request opens a new one). Stack
 * sockets already made stay valid: each is its own channel. */
void iopkt_disconnect(void);

/* One control request (control.h) on this process's connection. `body` of
 * `len` bytes follows the header; `pass_fd` >= 0 travels as SCM_RIGHTS (the
 * caller keeps it). On success the reply body is copied to `reply` (at most
 * *reply_len bytes; *reply_len becomes the body's length; a longer body
 * fails with EMSGSIZE) and a descriptor the reply carried is stored in
 * *recv_fd (close-on-exec; -1 if none; when recv_fd is NULL it is closed).
 * `reply`/`reply_len` may be NULL for an empty reply. A reply with a non-zero
 * error returns -1 with errno set to it; its message, if any, becomes
 * iopkt_last_error(). A reply whose seq or type does not match is EPROTO
 * (the connection is then dropped). */
int iopkt_request(uint16_t type, const void* body, uint32_t len, int pass_fd, void* reply,
                  uint32_t* reply_len, int* recv_fd);

/* The same on a one-shot connection to the stack whose endpoint is
 * `prefix`/dev/socket (prefix "" = /dev/socket), whatever SOCK says. */
int iopkt_request_at(const char* prefix, uint16_t type, const void* body, uint32_t len, int pass_fd,
                     void* reply, uint32_t* reply_len, int* recv_fd);

/* Instance N's prefix from the registry file
 * ${IOPKT_RUNDIR:-/run/iopkt (root) or /tmp/iopkt-UID}/io-pkt.N ("PID
 * PREFIX\n", flock()ed by the live instance). Copies the prefix into `buf`
 * (NUL-terminated; ERANGE if `len` is too small) and its pid into *pid if
 * not NULL. ENOENT when no live instance N holds the file. */
int iopkt_instance_prefix(int instance, char* buf, size_t len, int* pid);

/* IOPKT_CTL_HELLO: the stack's version, variant, instance, pid, prefix. */
int iopkt_hello(struct iopkt_ctl_hello_reply* out);

/* sockaddr_in / sockaddr_in6 <-> the protocol's address. sockaddr_to_ctl:
 * EINVAL when `len` is too short for the family, EAFNOSUPPORT for another
 * family; AF_UNSPEC (len >= sizeof(sa_family_t)) gives family 0.
 * ctl_to_sockaddr fills `ss` and sets *len to its length (0 for family 0);
 * -1 EAFNOSUPPORT for another family. */
int iopkt_sockaddr_to_ctl(const struct sockaddr* sa, socklen_t len, struct iopkt_ctl_addr* out);
int iopkt_ctl_to_sockaddr(const struct iopkt_ctl_addr* in, struct sockaddr_storage* ss,
                          socklen_t* len);

/* Sockets. `type` may carry SOCK_NONBLOCK | SOCK_CLOEXEC. */
int iopkt_socket(int domain, int type, int protocol);
int iopkt_close(int fd);
/* 1 when `fd` is a stack socket this process made (domain/type filled if
 * not NULL), else 0. */
int iopkt_is_socket(int fd, int* domain, int* type);

/* For a program (the preload library) that makes descriptors of stack
 * sockets itself. iopkt_dup_socket: `newfd` is now a duplicate of stack
 * socket `oldfd` (dup, dup2, fcntl F_DUPFD): the library learns it (-1
 * ENOTSOCK if `oldfd` is not a stack socket). iopkt_forget_fds: the caller
 * closed or replaced descriptors first..last (inclusive) itself (dup2 over
 * one, close_range): the library forgets them, closing nothing.
 * iopkt_adopt_socket: asks the stack whether `fd`, which this process did
 * not make (e.g. inherited across exec), is one of its sockets; if so the
 * library learns it and returns 1; 0 when it is not; -1 with errno when the
 * stack cannot be asked. */
int iopkt_dup_socket(int oldfd, int newfd);
void iopkt_forget_fds(unsigned int first, unsigned int last);
int iopkt_adopt_socket(int fd);

int iopkt_bind(int fd, const struct sockaddr* addr, socklen_t len);
int iopkt_connect(int fd, const struct sockaddr* addr, socklen_t len);
int iopkt_getsockname(int fd, struct sockaddr* addr, socklen_t* len);
int iopkt_getpeername(int fd, struct sockaddr* addr, socklen_t* len);
int iopkt_setsockopt(int fd, int level, int name, const void* val, socklen_t len);
int iopkt_getsockopt(int fd, int level, int name, void* val, socklen_t* len);
int iopkt_shutdown(int fd, int how);
/* Stream sockets. iopkt_accept4 takes SOCK_NONBLOCK | SOCK_CLOEXEC. A
 * stream socket's descriptor carries the connection's bytes: read, write,
 * poll and epoll work on it directly; iopkt_recv/iopkt_send add what a
 * byte stream cannot carry (ECONNRESET and the like instead of end of file
 * or EPIPE). */
int iopkt_listen(int fd, int backlog);
int iopkt_accept(int fd, struct sockaddr* addr, socklen_t* len);
int iopkt_accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags);

/* Data. On a datagram (SOCK_DGRAM, SOCK_RAW) stack socket each call moves
 * one datagram; MSG_DONTWAIT and MSG_PEEK act as on a kernel socket;
 * truncation sets MSG_TRUNC in msg_flags and returns the truncated length
 * (the datagram's real length if the caller passed MSG_TRUNC), as Linux. */
ssize_t iopkt_send(int fd, const void* buf, size_t len, int flags);
ssize_t iopkt_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to,
                     socklen_t tolen);
ssize_t iopkt_sendmsg(int fd, const struct msghdr* msg, int flags);
ssize_t iopkt_recv(int fd, void* buf, size_t len, int flags);
ssize_t iopkt_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from,
                       socklen_t* fromlen);
ssize_t iopkt_recvmsg(int fd, struct msghdr* msg, int flags);

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_IOPKT_H */
