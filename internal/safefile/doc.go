// Package safefile writes the files nix-auth owns (the tokens file, nix.conf,
// its backup, encrypted stores, render's output) and locks them. nixconf,
// crypt and render write through nothing else, so every rule below holds for
// every writer.
//
// # Writes
//
// Write puts one or more files in place all or nothing. Each file's data goes
// to a new temporary file in the file's own directory, created with
// O_EXCL|O_NOFOLLOW, given its owner and exact mode (whatever the umask)
// through its descriptor before any data, then written and fsynced. Only when
// every temporary file is complete are they renamed over their files, in the
// order given, and the directories fsynced. If a rename fails, the files
// already renamed get their old versions back (kept as hard links until the
// end), so a failed write, a full disk included, changes nothing.
//
// # Locks
//
// Lock takes an flock(2) on PATH.lock, which holds the holder's pid for
// messages and is removed when released. The kernel drops the lock when its
// holder dies, so a killed run never blocks the next one; the next one says
// it took over and removes the killed run's temporary files at once.
//
// # Temporary files
//
// A temporary file of FILE is named .FILE.tmp-PID-RANDOM (for a backup
// FILE.SUFFIX, .FILE.SUFFIX.tmp-PID-RANDOM). It may hold tokens, so no
// temporary file outlives its writer for long: whoever takes the lock of FILE
// removes every temporary file of FILE (every writer of FILE holds that lock
// while its temporary files exist), and every write removes, in the
// directories it writes, the temporary files of its files and their backups
// whose writer's pid is no longer running, or that are older than
// ten minutes (a reused pid).
//
// # Whom the paths must belong to
//
// The trust rule, checked for every file written and every lock file, is
// ssh's StrictModes. Its purpose: nothing another local user controls can
// redirect a write (a link planted where root writes makes root replace,
// chown or truncate a file of the attacker's choice). A path is trusted when:
//
//   - every directory from / down to the file's is owned by root or by the
//     effective user, and is writable by nobody else: not by others, and not
//     by its group unless the group is the owner's private group (only the
//     owner is in it, as Debian's usergroups make them). A directory others
//     can write is accepted only when it is sticky (/tmp): then the files and
//     lock files nix-auth replaces in it must be its own.
//   - every symlink on the way (a ~/.config linked into a dotfiles
//     repository, /var/run -> /run) is owned by root or the effective user;
//     its target is then checked by the same rule.
//   - the file itself and its lock file are not symlinks: tokens, backups,
//     stores, render's output and locks are never written through a link.
//     The one exception is a file written with FollowLink, which nixconf
//     uses for the user's nix.conf (it holds no tokens once they have moved
//     out) kept in a dotfiles repository: its link is followed when the link
//     and its target pass this rule and the target is owned by root or the
//     effective user. The target is replaced in its own directory, so the
//     link stays. (A nix.conf linked into the Nix store is read-only, made
//     by home-manager or NixOS: nixconf refuses it before any write.)
//   - the file and its lock file, when they exist, are regular files, and a
//     lock file has one link and belongs to the effective user.
//
// An owner that is not mapped into the process's user namespace (the Nix
// build sandbox shows the host's root as the overflow uid) is treated as
// root: no process in the namespace can act as it.
//
// Directories are walked from / with openat(O_NOFOLLOW) and every later step
// (lock file, temporary file, rename) is relative to the directory's
// descriptor: a path swapped after the check cannot redirect the write.
package safefile
