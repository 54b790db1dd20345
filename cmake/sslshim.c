/* A shim that lets Debian's CivetWeb 1.15 serve TLS with OpenSSL 3.
 *
 * CivetWeb loads libssl at run time with dlopen("libssl.so") and looks up
 * the OpenSSL 1.1 function SSL_get_peer_certificate, which OpenSSL 3 no
 * longer exports (it became a macro for SSL_get1_peer_certificate). The
 * lookup yields NULL and the first HTTPS connection crashes. This library
 * is named libssl.so, depends on the real libssl.so.3 (so every other
 * symbol resolves there) and supplies the missing one; the modelwatch
 * binary carries an RPATH to its directory, so CivetWeb's dlopen finds it
 * first. Same semantics: the returned certificate has its reference count
 * raised and the caller frees it. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }
