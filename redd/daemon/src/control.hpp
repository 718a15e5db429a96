// The root-only control socket (Documentation/control-socket.rst): a Unix
// stream socket speaking JSON lines.  This class owns the sockets, the line
// framing, the peer-credential check, the output queues and the event
// subscribers; what a request means is the daemon's business (Handler).
//
// It runs its own epoll set, whose fd the daemon adds to its loop: when that
// fd is readable, the daemon calls on_ready().
#pragma once

#include "log.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace redd::daemon {

using Json = nlohmann::ordered_json; // keys in the order written

class ControlServer {
public:
    // Limits of the protocol.
    static constexpr std::size_t kMaxLine = 64 * 1024;     // request bytes before '\n'
    static constexpr std::size_t kMaxQueued = 1024 * 1024; // unsent output per client
    static constexpr std::size_t kMaxClients = 64;         // connections at once
    static constexpr const char *kRootOnly = "permission denied: the control socket is root-only";
    // A refused connection (error reply sent, output shut down) is closed
    // at the client's EOF or after this long: a client that writes its
    // request after the refusal still reads the error, not EPIPE.
    static constexpr std::chrono::milliseconds kLinger{2000};

    // A request: an object with a string "cmd".  The handler answers with
    // reply() or subscribe(), now or later; the client's next request is
    // read only after that.
    using Handler = std::function<void(std::uint64_t client, const Json &request)>;

    // Creates the parent directory (0700) if it is missing, removes a stale
    // socket, refuses (std::runtime_error) if another process answers on
    // the path or the path is not a socket, then binds (0600) and listens.
    ControlServer(std::string path, const Logger &log, Handler handler);
    ControlServer(const ControlServer &) = delete;
    ControlServer &operator=(const ControlServer &) = delete;
    ControlServer(ControlServer &&) = delete;
    ControlServer &operator=(ControlServer &&) = delete;
    // Closes every connection and unlinks the socket (if it is still ours).
    ~ControlServer();

    [[nodiscard]] int fd() const { return epoll_.get(); }
    [[nodiscard]] const std::string &path() const { return path_; }
    [[nodiscard]] std::size_t subscribers() const;

    // Accepts, reads, writes whatever is ready.
    void on_ready();
    // Closes the refused connections whose time to read their error is up.
    void tick();
    // Answers a request.  Ignored if the client has gone.
    void reply(std::uint64_t client, const Json &body);
    // Answers {"ok":true}, sends `first` lines, and turns the connection
    // into an event stream.
    void subscribe(std::uint64_t client, const std::vector<Json> &first);
    // Sends a line to every event subscriber; one that has more than
    // kMaxQueued bytes unsent is disconnected.
    void broadcast(const Json &line);

    static Json error(const std::string &text) { return Json{{"ok", false}, {"error", text}}; }

private:
    struct Client {
        UniqueFd fd;
        uid_t uid = 0;
        pid_t pid = 0;
        std::string in;
        std::string out;
        bool busy = false;     // a request awaits its reply
        bool events = false;   // an event stream: input is ignored
        bool closing = false;  // close once the output is sent
        bool want_out = false; // EPOLLOUT registered
        // Output sent and shut down; input discarded until EOF or this time.
        std::optional<std::chrono::steady_clock::time_point> linger_until;
    };

    void on_accept();
    void on_client(std::uint64_t id, std::uint32_t events);
    void process(std::uint64_t id);
    void send(std::uint64_t id, Client &c, const std::string &line);
    void flush(std::uint64_t id, Client &c);
    void close_client(std::uint64_t id, const std::string &why);
    void reap();
    void update_interest(std::uint64_t id, Client &c);

    std::string path_;
    const Logger &log_;
    Handler handler_;
    UniqueFd epoll_;
    UniqueFd listen_;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::map<std::uint64_t, Client> clients_;
    std::vector<std::uint64_t> doomed_;
    std::uint64_t next_id_ = 1;
    std::uint64_t dispatching_ = 0; // client whose requests process() is running
};

} // namespace redd::daemon
