// Minimal types for fuse-native 2.2 (the package ships none): what logFS uses.
declare module 'fuse-native' {
  export interface FuseStat {
    mode: number;
    uid?: number;
    gid?: number;
    size?: number;
    nlink?: number;
    ino?: number;
    blksize?: number;
    blocks?: number;
    atime?: Date;
    mtime?: Date;
    ctime?: Date;
  }
  export interface FuseStatfs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }
  type Cb = (err: number) => void;
  export interface FuseOps {
    init?(cb: Cb): void;
    statfs?(path: string, cb: (err: number, st?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (err: number, st?: FuseStat) => void): void;
    fgetattr?(path: string, fd: number, cb: (err: number, st?: FuseStat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytes: number) => void): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytes: number) => void): void;
    flush?(path: string, fd: number, cb: Cb): void;
    fsync?(path: string, datasync: boolean, fd: number, cb: Cb): void;
    release?(path: string, fd: number, cb: Cb): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    utimens?(path: string, atime: Date, mtime: Date, cb: Cb): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    link?(src: string, dest: string, cb: Cb): void;
    symlink?(src: string, dest: string, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
    mknod?(path: string, mode: number, dev: number, cb: Cb): void;
  }
  export interface FuseOptions {
    force?: boolean;
    mkdir?: boolean;
    timeout?: number | false;
    debug?: boolean;
    allowOther?: boolean;
    autoUnmount?: boolean;
    fsname?: string;
    subtype?: string;
    uid?: number;
    gid?: number;
  }
  class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
    /** Per-mount state handed to the binding; set by mount(). */
    protected _thread: Buffer | null;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static isConfigured(cb: (err: Error | null, yes: boolean) => void): void;
    static ENOENT: number;
    static EACCES: number;
    static EPERM: number;
    static ENOSPC: number;
    static ENAMETOOLONG: number;
    static EINVAL: number;
    static EIO: number;
    static EEXIST: number;
    static EBADF: number;
    static ENOTDIR: number;
    static EISDIR: number;
  }
  export default Fuse;
}
