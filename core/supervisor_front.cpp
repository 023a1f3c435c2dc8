// The supervisor's keeping of the front process: started with the server, restarted with backoff
// when it dies or hangs, stopped first on a graceful stop (workers drain once it is gone, so
// every request it has handed on finds a worker), and never touched by a deploy.
#include "core/marks.hpp"
#include "core/supervisor.hpp"

namespace zyg {

void Supervisor::on(const ev::FrontSpawned& e) {
  if (e.generation != front_.generation || !front_.exists) return;
  front_.pid = e.pid;
  front_.last_heard = now_;
  if (stop_at_) drain_front();  // restarted during a stop delay: it closes what it serves too
}

void Supervisor::on(const ev::FrontSpawnFailed& e) {
  if (e.generation != front_.generation || !front_.exists) return;
  front_.exists = false;
  front_gone("the front could not be started (errno " + std::to_string(e.error) + ")");
}

void Supervisor::on(const ev::FrontAlive& e) {
  if (!front_.exists) return;
  front_.last_heard = now_;
  front_.stats = e;
}

void Supervisor::on(const ev::FrontNotice& e) {
  if (front_.exists) front_.last_heard = now_;
  report("front", e.text);
}

void Supervisor::on(const ev::FrontExited& e) {
  if (e.generation != front_.generation || !front_.exists) return;
  front_.exists = false;
  front_.pid.reset();
  if (shutting_down_) {
    report("front-exited", "the front exited (" + to_string(e.status) + "); workers drain now");
    return;
  }
  front_gone("the front died (" + to_string(e.status) +
             "): the connections it held are lost; restarting it");
}

// Named rule: the front is restarted at once after its first death, then with backoff while it
// keeps dying within probation of its start.
void Supervisor::front_gone(const std::string& what) {
  ZYG_MARK("front.died");
  front_.quick_deaths = now_ - front_.started < config_.probation ? front_.quick_deaths + 1 : 1;
  front_.restart_at = now_ + backoff_delay(front_.quick_deaths - 1);
  front_.stop_sent.reset();
  front_.last_kill.reset();
  report("front-died", what);
}

// Called from reconcile() while serving: a front always exists, or is about to.
void Supervisor::keep_front() {
  if (front_.exists || !front_.restart_at || now_ < *front_.restart_at) return;
  ZYG_MARK("front.restart");
  front_.restarts += 1;
  start_front();
}

void Supervisor::check_front_deadlines() {
  if (!front_.exists || !front_.pid) return;
  if (front_.last_kill) {
    if (now_ - *front_.last_kill >= config_.kill_retry) kill_front(front_.kill_why);
  } else if (front_.stop_sent && now_ - *front_.stop_sent >= config_.graceful_timeout) {
    kill_front("did not stop within the graceful timeout of " + ms_text(config_.graceful_timeout));
  } else if (!front_.stop_sent && now_ - front_.last_heard >= config_.heartbeat_timeout) {
    ZYG_MARK("front.hung");
    kill_front("hung: no heartbeat for " + ms_text(now_ - front_.last_heard));
  }
}

void Supervisor::start_front() {
  front_.generation += 1;
  front_.exists = true;
  front_.pid.reset();
  front_.started = now_;
  front_.last_heard = now_;
  front_.stop_sent.reset();
  front_.last_kill.reset();
  front_.restart_at.reset();
  front_.stats = {};
  out_.push_back(cmd::StartFront{front_.generation});
}

void Supervisor::stop_front() {
  if (!front_.exists || front_.stop_sent) return;
  front_.stop_sent = now_;
  if (front_.pid) out_.push_back(cmd::StopFront{*front_.pid});
}

void Supervisor::drain_front() {
  if (front_.exists && front_.pid) out_.push_back(cmd::DrainFront{*front_.pid});
}

void Supervisor::kill_front(const std::string& why) {
  if (!front_.exists || !front_.pid) return;
  if (!front_.last_kill) {
    kills_ += 1;
    report("front-killed", "front pid " + std::to_string(*front_.pid) + " " + why);
  }
  front_.last_kill = now_;
  front_.kill_why = why;
  out_.push_back(cmd::KillFront{*front_.pid, why});
}

}  // namespace zyg
