/**
 * One answer to "is this CI?" for every test that spawns a server: under CI a missing server binary
 * fails the run instead of skipping (CI must not pass by skipping). `CI=true` and `CI=1` both count,
 * as the CI services that set it use either.
 */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['true', '1'].includes((env.CI ?? '').toLowerCase());
}
