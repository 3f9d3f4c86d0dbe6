// A loopback HTTP/1.1 sink for the lifecycle and pipeline tests: answers
// the first `fail_first` requests with `fail_status` and the others with
// 200, and keeps the bodies answered with 200 (Content-Length framed,
// kept-alive connections). Stops its threads and closes its sockets on
// destruction.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loopback.hpp"

namespace fmtest {

class HttpSink {
 public:
  explicit HttpSink(int fail_status = 200, int fail_first = 0)
      : fail_status_(fail_status), fail_left_(fail_first) {
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
      std::string body = data.substr(end + 4, len);
      data.erase(0, end + 4 + len);
      int status = 200;
      if (fail_left_.fetch_sub(1) > 0) {
        status = fail_status_;
      } else {
        std::lock_guard<std::mutex> g(mu_);
        bodies_.push_back(std::move(body));
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status) +
                          (status == 200 ? " OK" : " X") + "\r\nContent-Length: 0\r\n\r\n";
      if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  int fail_status_;
  std::atomic<int> fail_left_;
  std::thread accept_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
};

}  // namespace fmtest
