//! A full disk and a read-only disk under sled: the state directory is a small filesystem the
//! test mounts (a tmpfs, or an ext4 image on a loop device) and fills or breaks.
//!
//! Below `store.min_free` writes are refused with the reason, reads and tokens already issued
//! keep working, and writes resume by themselves once space is freed. A write that fails
//! anyway (the disk filled with no reserve, or turned read-only after an error) stops the
//! daemon; it starts again from what the disk holds, with nothing it acknowledged lost.

use crate::browser::*;
use crate::fixture::{Daemon, Site, bin, stderr};
use crate::postgres::skip_on_postgres;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A filesystem mounted at a site's state directory, unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
    loop_image: Option<PathBuf>,
}

impl SmallDisk {
    /// A tmpfs of `mib` MiB.
    fn tmpfs(site: &Site, mib: u32) -> Self {
        let mount_point = state_dir(site);
        std::fs::create_dir_all(&mount_point).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={mib}m,mode=0700"))
            .arg("tmpfs")
            .arg(&mount_point));
        Self {
            mount_point,
            loop_image: None,
        }
    }

    /// An ext4 image on a loop device that turns read-only on an error, as a real disk's
    /// filesystem does (`errors=remount-ro`). None where loop devices cannot be had.
    fn ext4(site: &Site) -> Option<Self> {
        let image = site.dir.path().join("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let mount_point = state_dir(site);
        std::fs::create_dir_all(&mount_point).unwrap();
        let mounted = Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(&image)
            .arg(&mount_point)
            .status()
            .unwrap();
        if !mounted.success() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs loop devices for the read-only disk test"
            );
            eprintln!("skipped: no loop device for an ext4 image");
            return None;
        }
        Some(Self {
            mount_point,
            loop_image: Some(image),
        })
    }

    fn free(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.mount_point).unwrap();
        stat.blocks_available() * stat.fragment_size()
    }

    /// Fills the disk with a file until only `leave` bytes (or none) are free.
    fn fill(&self, leave: u64) {
        let mut filler = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 64 << 10];
        while self.free() > leave {
            let room = (self.free() - leave).min(chunk.len() as u64) as usize;
            if filler.write_all(&chunk[..room]).is_err() {
                break;
            }
            filler.sync_data().unwrap();
        }
    }

    fn free_up(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }

    fn filler(&self) -> PathBuf {
        self.mount_point.join("filler")
    }

    /// Makes the ext4 filesystem meet an error, so that the kernel turns it read-only.
    fn break_filesystem(&self) {
        let source = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.mount_point)
            .output()
            .unwrap();
        let device = String::from_utf8(source.stdout).unwrap();
        let device = Path::new(device.trim()).file_name().unwrap().to_owned();
        let trigger = Path::new("/sys/fs/ext4")
            .join(device)
            .join("trigger_fs_error");
        std::fs::write(trigger, "1").expect("trigger an ext4 error");
    }

    /// Mounts the ext4 image again, writable (the error is cleared by the new mount).
    ///
    /// A mount namespace another test is making (bwrap, sshd) may hold the broken filesystem
    /// for a moment after the unmount; mounting the image then hands back that same broken
    /// filesystem, which may even look writable until a write fails. So it is mounted until a
    /// file can be written and synced on it.
    fn remount(&self) {
        let image = self.loop_image.as_ref().expect("an ext4 image");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            run(Command::new("umount").arg(&self.mount_point));
            run(Command::new("e2fsck").args(["-f", "-y"]).arg(image));
            run(Command::new("mount")
                .args(["-o", "loop,errors=remount-ro"])
                .arg(image)
                .arg(&self.mount_point));
            if takes_writes(&self.mount_point) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the repaired disk still mounts read-only"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether a file can be written, synced and removed under `dir`.
fn takes_writes(dir: &Path) -> bool {
    let probe = dir.join(".writable-probe");
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        std::io::Write::write_all(&mut file, b"probe")?;
        file.sync_all()
    });
    written.is_ok() && std::fs::remove_file(&probe).is_ok()
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a daemon that failed the test may still hold files open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("run a command");
    // e2fsck exits 1 when it corrected something, which is what it is run for.
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "{command:?} failed: {}",
        stderr(&output)
    );
}

fn state_dir(site: &Site) -> PathBuf {
    site.dir.path().join("state")
}

/// True (and says why) when this run cannot mount filesystems or does not test sled.
fn skipped() -> bool {
    if skip_on_postgres("sled's own disk; PostgreSQL's is the server's") {
        return true;
    }
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root, which mounting a small disk needs"
        );
        eprintln!("skipped: mounting a small disk needs root");
        return true;
    }
    false
}

fn site_with_min_free(min_free: &str) -> Site {
    let site = Site::on_sled();
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(&site.config)
        .unwrap();
    writeln!(config, "\n[store]\nmin_free = \"{min_free}\"").unwrap();
    site
}

fn add_user(site: &Site, name: &str) -> std::process::Output {
    site.cli_with_stdin(
        &[
            "user",
            "add",
            name,
            "--email",
            &format!("{name}@example.com"),
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )
}

fn healthz(daemon: &Daemon) -> u16 {
    reqwest::blocking::get(format!("http://{}/healthz", daemon.http))
        .unwrap()
        .status()
        .as_u16()
}

/// Waits for a daemon that should stop by itself; returns its log.
fn wait_for_exit(mut daemon: Daemon) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    while daemon.is_running() {
        assert!(
            Instant::now() < deadline,
            "posternd went on after a failed write:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.log_text()
}

fn check_store_is_clean(site: &Site) {
    let output = Command::new(bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .arg("check-store")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(&output)
    );
}

fn usernames(site: &Site) -> String {
    site.ok(&["user", "list"])
}

#[test]
fn below_the_reserve_writes_are_refused_plainly_and_resume_once_space_is_freed() {
    if skipped() {
        return;
    }
    let site = site_with_min_free("4MiB");
    let disk = SmallDisk::tmpfs(&site, 24);
    let daemon = site.start();
    site.add_user("alice", &[]);
    let rp = RelyingParty::register(&site, &daemon, "wiki", &[]);
    let (code, request) = sign_in_and_get_code(&Browser::new(&daemon), &rp, "alice");
    let tokens = rp.exchange(&code, request).unwrap();

    disk.fill(2 << 20);
    let refused = add_user(&site, "bob");
    assert!(!refused.status.success());
    for said in [stderr(&refused), daemon.log_text()] {
        assert!(
            said.contains("less than store.min_free (4.0 MiB); free some space"),
            "{said}"
        );
    }
    assert_eq!(
        healthz(&daemon),
        503,
        "a load balancer should look elsewhere"
    );
    let (status, claims) = rp.userinfo(&browser_issuer(&daemon), &access_token(&tokens));
    assert_eq!(status, 200, "a token issued before still works: {claims}");
    assert_eq!(claims["email"], "alice@example.com");
    let login = Browser::new(&daemon).visit(&rp.request(&[]).url);
    assert_eq!(page_status(&login), 503);
    assert!(page_body(&login).contains("Temporarily unavailable"));

    disk.free_up();
    add_user(&site, "bob");
    assert!(usernames(&site).contains("bob"));
    assert_eq!(healthz(&daemon), 200);
    let (code, request) = sign_in_and_get_code(&Browser::new(&daemon), &rp, "alice");
    rp.exchange(&code, request).unwrap();
    assert!(daemon.terminate().success());
    check_store_is_clean(&site);
}

#[test]
fn a_write_the_full_disk_refused_stops_the_daemon_and_nothing_acknowledged_is_lost() {
    if skipped() {
        return;
    }
    let site = site_with_min_free("0");
    let disk = SmallDisk::tmpfs(&site, 16);
    let daemon = site.start();
    disk.fill(0);
    let mut acknowledged = Vec::new();
    let refused = (0..5_000)
        .map(|i| (format!("u{i}"), add_user(&site, &format!("u{i}"))))
        .find_map(|(name, output)| {
            if output.status.success() {
                acknowledged.push(name);
                None
            } else {
                Some(stderr(&output))
            }
        })
        .expect("the disk fills up");
    assert!(refused.contains("no space left on device"), "{refused}");
    let log = wait_for_exit(daemon);
    assert!(
        log.contains("posternd stopped so that it starts again from what the disk holds"),
        "{log}"
    );

    disk.free_up();
    check_store_is_clean(&site);
    let _daemon = site.start();
    let listed = usernames(&site);
    for name in &acknowledged {
        assert!(
            listed.contains(&format!("{name} ")),
            "{name} lost:\n{listed}"
        );
    }
}

#[test]
fn a_disk_turned_read_only_stops_the_daemon_and_it_starts_again_once_repaired() {
    if skipped() {
        return;
    }
    let site = site_with_min_free("1MiB");
    let Some(disk) = SmallDisk::ext4(&site) else {
        return;
    };
    let daemon = site.start();
    site.add_user("alice", &[]);
    disk.break_filesystem();
    let refused = add_user(&site, "bob");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("read-only filesystem"),
        "{}",
        stderr(&refused)
    );
    wait_for_exit(daemon);

    // A daemon started on the read-only disk says so and stops.
    let started = Command::new(bin("posternd"))
        .arg("--config")
        .arg(&site.config)
        .output()
        .unwrap();
    assert!(!started.status.success());
    assert!(
        stderr(&started).contains("read-only"),
        "{}",
        stderr(&started)
    );

    disk.remount();
    check_store_is_clean(&site);
    let daemon = site.start();
    assert!(usernames(&site).contains("alice"));
    let rp = RelyingParty::register(&site, &daemon, "wiki", &[]);
    let (code, request) = sign_in_and_get_code(&Browser::new(&daemon), &rp, "alice");
    rp.exchange(&code, request).unwrap();
}

fn browser_issuer(daemon: &Daemon) -> String {
    format!("http://{}", daemon.http)
}

/// PostgreSQL's side of it: a server that cannot take writes (here made read-only, as a standby
/// or a server out of disk is) refuses them with the reason and takes them again once it can.
#[test]
fn a_postgres_server_that_takes_no_writes_is_reported_plainly_until_it_does_again() {
    if crate::postgres::skip_on_sled("a PostgreSQL server turned read-only") {
        return;
    }
    let site = Site::on_postgres();
    let server = site.postgres.as_ref().expect("the site's own server");
    let daemon = site.start();
    site.add_user("alice", &[]);
    server.sql("ALTER SYSTEM SET default_transaction_read_only = on");
    server.sql("SELECT pg_reload_conf()");
    let refused = (0..50)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(100));
            add_user(&site, &format!("bob{i}"))
        })
        .find(|output| !output.status.success())
        .expect("the reload reaches the daemon's connections");
    assert!(
        stderr(&refused).contains("the store cannot take writes")
            && stderr(&refused).contains("read-only transaction"),
        "{}",
        stderr(&refused)
    );
    assert!(usernames(&site).contains("alice"), "reads go on");

    server.sql("ALTER SYSTEM RESET default_transaction_read_only");
    server.sql("SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(500));
    add_user(&site, "carol");
    assert!(usernames(&site).contains("carol"));
    drop(daemon);
}
