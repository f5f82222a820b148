import { DiskDeltaError } from '../../core/ports';
import type { CliContext } from '../context';

export async function copyCommand(_ctx: CliContext, _o: Record<string, unknown>): Promise<void> {
  throw new DiskDeltaError('copy is not available in this build.', 'NotAvailable');
}
