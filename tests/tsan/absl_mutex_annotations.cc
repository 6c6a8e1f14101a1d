// ThreadSanitizer annotations for the distribution's (uninstrumented) abseil synchronization
// library. Linked into test programs of a STRATA_TSAN build only.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so TSan does not see
// the happens-before edges an absl::Mutex creates: every ABSL_GUARDED_BY member then reads as
// a data race (a two-thread counter under absl::MutexLock is reported). This file defines
// absl::Mutex's and absl::CondVar's out-of-line members itself; the dynamic linker binds calls
// from the program, and from libraries calling through their PLT (gRPC's Mutex, absl's own
// Notification), to these definitions, which tell TSan what the lock means (acquire after
// locking, release before unlocking, both around a wait) and then run the library's real
// member, found with dlsym(RTLD_NEXT). Conditions are wrapped so that their evaluation, under
// the mutex but possibly on another thread, happens after the acquire too; the wrapper is built
// with Condition's out-of-line (uninstrumented) constructor, since an unlocking thread reads it
// inside libabsl with no edge TSan can see, and the waiter releases its own frame's Wrapped (and
// with it the caller's Condition) for the evaluating thread to acquire.
//
// The edges are plain acquire/release on the mutex's address: TSan checks data races across
// these locks but not lock order (that is Clang's -Wthread-safety, scripts/thread-safety).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define STRATA_STR2(x) #x
#define STRATA_STR(x) STRATA_STR2(x)

// The library's own definition of absl::<rest>, by its mangled name without the "_ZN4absl"
// prefix and this abseil's inline namespace (e.g. "5Mutex4LockEv").
template <typename Fn>
Fn Real(const char* rest) {
  const char* inline_ns = STRATA_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string mangled =
      "_ZN4absl" + std::to_string(std::strlen(inline_ns)) + inline_ns + rest;
  void* p = dlsym(RTLD_NEXT, mangled.c_str());
  if (p == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: %s not found in libabsl\n", mangled.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(p);
}

#define STRATA_REAL(type, name, rest)        \
  static const auto name = Real<type>(rest); \
  (void)0

struct Wrapped {
  const absl::Condition* cond;
  void* mu;
};

// Runs on whichever thread evaluates the condition (the waiter, or another thread unlocking the
// mutex). The acquire on `arg` pairs with the waiter's release after it built the Wrapped and the
// caller's Condition (a LockWhen waiter holds no mutex yet, so the mutex's edges do not cover
// them); the acquire on the mutex orders the guarded state the condition reads.
bool EvalAfterAcquire(void* arg) {
  __tsan_acquire(arg);
  const Wrapped* w = static_cast<const Wrapped*>(arg);
  __tsan_acquire(w->mu);
  const bool met = w->cond->Eval();
  // The evaluating thread holds the mutex and may release it inside libabsl next (a waiter
  // going back to sleep): what the condition read is ordered before the next holder's acquire.
  __tsan_release(w->mu);
  return met;
}

using Void = void (*)(absl::Mutex*);
using Bool = bool (*)(absl::Mutex*);
using CondVoid = void (*)(absl::Mutex*, const absl::Condition&);
using CondTimeout = bool (*)(absl::Mutex*, const absl::Condition&, absl::Duration);
using CondDeadline = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  STRATA_REAL(Void, real, "5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}
void Mutex::ReaderLock() {
  STRATA_REAL(Void, real, "5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}
bool Mutex::TryLock() {
  STRATA_REAL(Bool, real, "5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  STRATA_REAL(Bool, real, "5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}
void Mutex::Unlock() {
  STRATA_REAL(Void, real, "5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  STRATA_REAL(Void, real, "5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

// Lock-and-wait and wait members: the condition is evaluated after an acquire wherever it runs.
#define STRATA_COND_VOID(name, mangled, release_first)                  \
  void Mutex::name(const Condition& cond) {                             \
    STRATA_REAL(CondVoid, real, mangled);                               \
    Wrapped w{&cond, this};                                             \
    const Condition wrapped(&EvalAfterAcquire, static_cast<void*>(&w)); \
    __tsan_release(&w);                                                 \
    if (release_first) __tsan_release(this);                            \
    real(this, wrapped);                                                \
    __tsan_acquire(this);                                               \
  }
#define STRATA_COND_BOOL(name, arg_type, type, mangled, release_first)  \
  bool Mutex::name(const Condition& cond, arg_type arg) {               \
    STRATA_REAL(type, real, mangled);                                   \
    Wrapped w{&cond, this};                                             \
    const Condition wrapped(&EvalAfterAcquire, static_cast<void*>(&w)); \
    __tsan_release(&w);                                                 \
    if (release_first) __tsan_release(this);                            \
    const bool met = real(this, wrapped, arg);                          \
    __tsan_acquire(this);                                               \
    return met;                                                         \
  }

STRATA_COND_VOID(LockWhen, "5Mutex8LockWhenERKNS0_9ConditionE", false)
STRATA_COND_VOID(ReaderLockWhen, "5Mutex14ReaderLockWhenERKNS0_9ConditionE", false)
STRATA_COND_VOID(Await, "5Mutex5AwaitERKNS0_9ConditionE", true)
STRATA_COND_BOOL(LockWhenWithTimeout, Duration, CondTimeout,
                 "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", false)
STRATA_COND_BOOL(ReaderLockWhenWithTimeout, Duration, CondTimeout,
                 "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", false)
STRATA_COND_BOOL(LockWhenWithDeadline, Time, CondDeadline,
                 "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", false)
STRATA_COND_BOOL(ReaderLockWhenWithDeadline, Time, CondDeadline,
                 "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", false)
STRATA_COND_BOOL(AwaitWithTimeout, Duration, CondTimeout,
                 "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", true)
STRATA_COND_BOOL(AwaitWithDeadline, Time, CondDeadline,
                 "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", true)

void CondVar::Wait(Mutex* mu) {
  STRATA_REAL(void (*)(CondVar*, Mutex*), real, "7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  STRATA_REAL(bool (*)(CondVar*, Mutex*, Duration), real,
              "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  STRATA_REAL(bool (*)(CondVar*, Mutex*, Time), real,
              "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl
