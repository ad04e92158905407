/** A user as the domain sees it; the password hash never leaves the repository's auth reads. */
export interface UserRecord {
  userId: string;
  username: string;
  nickname: string;
  avatarUrl: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser extends UserRecord {
  passwordHash: string;
}

export interface UserChanges {
  nickname?: string;
  avatarUrl?: string;
}
