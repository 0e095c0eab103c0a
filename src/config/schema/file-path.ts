/** A file or folder named in the config; relative paths are resolved against the config file's folder (config/load.ts). */
import { z } from 'zod';

export const filePath = z.string().min(1).meta({ docType: 'path' });
