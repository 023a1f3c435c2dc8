#include "real/tests/live/client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <utility>

namespace zyg::live {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::size_t> decimal(std::string_view s) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return n;
}

// "HTTP/1.x SSS[ reason]"
std::optional<int> status_of(std::string_view head) {
  const std::string_view line = head.substr(0, head.find("\r\n"));
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return std::nullopt;
  if (line.size() > 12 && line[12] != ' ') return std::nullopt;
  const auto code = decimal(line.substr(9, 3));
  if (!code || *code < 100) return std::nullopt;
  return static_cast<int>(*code);
}

}  // namespace

int remaining_ms(Deadline deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 60'000));
}

std::optional<std::string> Response::header(std::string_view name) const {
  std::string_view rest(head);
  rest.remove_prefix(std::min(rest.size(), rest.find("\r\n")));
  while (!rest.empty()) {
    rest.remove_prefix(std::min<std::size_t>(2, rest.size()));  // the CRLF before the field
    const std::string_view line = rest.substr(0, rest.find("\r\n"));
    rest.remove_prefix(line.size());
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      return std::string(trim(line.substr(colon + 1)));
    }
  }
  return std::nullopt;
}

std::vector<Response> Responses::finals() const {
  std::vector<Response> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [](const Response& r) { return r.status >= 200; });
  return out;
}

Responses split_responses(std::string_view bytes, std::size_t head_responses) {
  Responses out;
  while (out.used < bytes.size()) {
    const std::string_view rest = bytes.substr(out.used);
    const std::size_t head_end = rest.find("\r\n\r\n");
    const auto status = status_of(rest);
    if (!status && (head_end != std::string_view::npos || rest.size() >= 12)) {
      out.malformed = true;
      break;
    }
    if (head_end == std::string_view::npos) break;
    Response r;
    r.status = *status;
    r.head = std::string(rest.substr(0, head_end));
    std::size_t body_bytes = 0;
    const bool bodyless = r.status < 200 || r.status == 204 || r.status == 304;
    const bool answers_head = !bodyless && out.finals().size() < head_responses;
    if (!bodyless && !answers_head) {
      const auto length = r.header("Content-Length");
      const auto n = length ? decimal(*length) : std::nullopt;
      if (!n) {  // this server always frames its bodies with Content-Length
        out.malformed = true;
        break;
      }
      body_bytes = *n;
    }
    if (rest.size() - head_end - 4 < body_bytes) break;
    r.body = std::string(rest.substr(head_end + 4, body_bytes));
    out.used += head_end + 4 + body_bytes;
    out.all.push_back(std::move(r));
  }
  return out;
}

Client Client::connect(int port, Deadline deadline) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Client failed;
    failed.error_ = std::string("socket: ") + std::strerror(errno);
    return failed;
  }
  Client c(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      err = ETIMEDOUT;
      if (c.wait_for(POLLOUT, deadline)) {
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
  }
  if (err != 0) {
    c.close();
    c.error_ = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(err);
  }
  return c;
}

Client::Client(Client&& other) noexcept { *this = std::move(other); }

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    error_ = std::move(other.error_);
    received_ = std::move(other.received_);
    peer_closed_ = other.peer_closed_;
  }
  return *this;
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Client::wait_for(short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd_, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool Client::wait_readable(Deadline deadline) {
  return ok() && (peer_closed_ || wait_for(POLLIN, deadline));
}

bool Client::send_all(std::string_view bytes, Deadline deadline) {
  while (ok() && !bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(POLLOUT, deadline)) {
        error_ = "send: deadline passed";
        return false;
      }
    } else {
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
  }
  return ok();
}

Client::Stop Client::read_until(Deadline deadline,
                                const std::function<bool(std::string_view)>& enough) {
  char buf[64 * 1024];
  for (;;) {
    if (enough(received_)) return Stop::enough;
    if (peer_closed_ || !ok()) return Stop::closed;
    if (!wait_for(POLLIN, deadline)) return Stop::deadline;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      received_.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      peer_closed_ = true;  // FIN, or a reset: the server closed with our bytes unread
    }
  }
}

Client::Stop Client::read_to_close(Deadline deadline) {
  return read_until(deadline, [](std::string_view) { return false; });
}

Exchange exchange(int port, std::string_view request, Deadline deadline, std::size_t count,
                  std::size_t head_responses) {
  Exchange out;
  Client c = Client::connect(port, deadline);
  if (!c.ok()) {
    out.error = c.error();
    return out;
  }
  // A server that answers before reading everything may close first: still read its answer.
  if (!c.send_all(request, deadline)) out.error = c.error();
  c.read_until(deadline, [&](std::string_view got) {
    return split_responses(got, head_responses).finals().size() >= count;
  });
  const auto finals = split_responses(c.received(), head_responses).finals();
  if (!finals.empty() && finals.back().header("Connection") == "close") c.read_to_close(deadline);
  out.responses = split_responses(c.received(), head_responses);
  out.received = c.received();
  out.closed = c.peer_closed();
  return out;
}

std::string printable(std::string_view bytes, std::size_t max) {
  std::string out;
  for (const char ch : bytes.substr(0, max)) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u >= 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += ch;
    }
  }
  if (bytes.size() > max) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

std::string describe(const Exchange& e) {
  std::string out = "statuses [";
  for (const Response& r : e.responses.all) out += " " + std::to_string(r.status);
  out += " ]";
  out += e.closed ? ", closed" : ", still open";
  if (e.responses.malformed) out += ", malformed";
  if (!e.error.empty()) out += ", " + e.error;
  return out + ", received \"" + printable(e.received) + "\"";
}

}  // namespace zyg::live
