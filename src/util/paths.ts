/** Where the package's own files are, found the same way from src/ (tsx) and from dist/ (built). */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A path inside the configs/ folder shipped with the package; with no arguments, the folder itself. */
export function configPath(...parts: string[]): string {
  return join(fileURLToPath(new URL('../../configs', import.meta.url)), ...parts);
}
