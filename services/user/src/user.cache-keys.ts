import { createHash } from 'node:crypto';

/** Redis keys of the user service; the braces are the cluster hash tag. */
export const userKey = (userId: string) => `user:{${userId}}`;

/**
 * Failed logins of one username, lowercased like uniqueness. Names no account can have (too
 * long, odd characters) are hashed so a caller cannot make huge keys.
 */
export const loginFailuresKey = (username: string) => {
  const name = /^[A-Za-z0-9_.-]{1,32}$/.test(username)
    ? username.toLowerCase()
    : `#${createHash('sha256').update(username).digest('base64url')}`;
  return `login-fail:{${name}}`;
};
