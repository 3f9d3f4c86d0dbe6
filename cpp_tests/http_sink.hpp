// A loopback HTTP/1.1 sink for the lifecycle tests: answers every request
// with 200 and keeps the bodies (Content-Length framed, kept-alive
// connections). Stops its threads and closes its sockets on destruction.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

namespace fmtest {

class HttpSink {
 public:
  HttpSink() {
    fd_ = BindLoopback(8, &port_);
    accept_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> g(mu_);
        conns_.push_back(c);
        workers_.emplace_back([this, c] { Serve(c); });
      }
    });
  }
  ~HttpSink() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_.join();
    std::lock_guard<std::mutex> g(mu_);
    for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : conns_) ::close(c);
  }
  HttpSink(const HttpSink&) = delete;
  HttpSink& operator=(const HttpSink&) = delete;

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> g(mu_);
    return bodies_;
  }

 private:
  void Serve(int c) {
    std::string data;
    char buf[65536];
    for (;;) {
      auto end = data.find("\r\n\r\n");
      while (end == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
        end = data.find("\r\n\r\n");
      }
      std::string head = data.substr(0, end);
      for (auto& ch : head) ch = static_cast<char>(::tolower(static_cast<unsigned char>(ch)));
      std::size_t cl = head.find("content-length: ");
      std::size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      while (data.size() < end + 4 + len) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard<std::mutex> g(mu_);
        bodies_.push_back(data.substr(end + 4, len));
      }
      data.erase(0, end + 4 + len);
      static const std::string kReply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (::send(c, kReply.data(), kReply.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread accept_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
};

}  // namespace fmtest
