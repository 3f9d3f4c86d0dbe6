// A TCP socket bound to 127.0.0.1 on a port the kernel picks, for the
// suites' loopback HTTP sinks.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

namespace fmtest {

// Binds a new socket to 127.0.0.1:0 and, when `backlog` > 0, listens.
// Returns the socket (or -1) and writes the port chosen.
inline int BindLoopback(int backlog, std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (backlog > 0) ::listen(fd, backlog);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace fmtest
