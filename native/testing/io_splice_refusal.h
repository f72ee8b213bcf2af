// A kernel that refuses splice() for one source socket, for testing the channel's fallback to
// copying. Linux 6.x splices from every socket family a proxy meets (AF_UNIX stream, dgram and
// seqpacket, TCP, UDP all work), so the refusal is produced with a seccomp filter: on one
// helper thread, and only that thread, splice(fd_in == `fd`, ...) fails with `err` before it
// reaches the kernel. Splices out of the channel's pipe (fd_in = the pipe) still work, as they
// would on a kernel that cannot splice-read one socket type.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cstddef>
#include <thread>

namespace epoxy::testing {

// Installs the filter on the calling thread; false when the kernel does not allow it.
inline bool refuse_splice_from(int fd, int err) {
  const unsigned kArgLow = offsetof(seccomp_data, args[0]);  // low 32 bits on x86-64 and arm64
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_splice, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgLow),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(fd), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  // Without SECCOMP_FILTER_FLAG_TSYNC the filter binds this thread only; it dies with it.
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

// Runs `fn()` on a new thread where splice from `fd` fails with `err`. Returns false (and does
// not run `fn`) when the filter could not be installed.
template <typename Fn>
bool with_splice_refused(int fd, int err, Fn fn) {
  bool installed = false;
  std::thread t([&] {
    installed = refuse_splice_from(fd, err);
    if (installed) fn();
  });
  t.join();
  return installed;
}

}  // namespace epoxy::testing
