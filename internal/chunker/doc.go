// Package chunker splits a byte stream into content-defined chunks.
//
// Boundaries are found with a gear rolling hash in the style of FastCDC: for
// each byte b the hash becomes h<<1 + gear[b], and a chunk ends where h falls
// below a threshold. Because the hash only depends on the last 64 bytes, an
// insertion or deletion moves the boundaries near the edit and nowhere else,
// so unchanged content yields the same chunks and deduplicates.
//
// Chunking is normalised: between Params.Min and Params.Avg the threshold is
// four times stricter than 1/(Avg-Min), and past Avg four times looser. Sizes
// cluster around Avg (on random data the mean is Min + 1.08*(Avg-Min), 4%
// above Avg when Min is Avg/2) and almost no chunk is forced at Max. The first Min bytes of every chunk are not hashed
// at all, which is where much of the speed comes from.
//
// The gear table is expanded from a secret 32-byte seed (crypto.Key's
// ChunkerSeed), so someone without the vault key cannot predict where
// boundaries fall and cannot confirm a guessed file from chunk boundaries
// alone. Chunk sizes remain visible to whoever sees the stored packs' layout;
// the seed only keeps them from being computed offline for known content.
//
// DefaultParams (Min 512 KiB, Avg 1 MiB, Max 8 MiB) were chosen by measuring
// Go's installation tree (15036 files, 222 MiB) backed up twice, the second
// time after 32 bytes were inserted into 5% of the files (TestMeasureSizes,
// run with BUNKER_MEASURE=1; Min = Avg/2, Max = 8*Avg):
//
//	avg       file by file              one stream
//	          chunks   new data         chunks   new data
//	256 KiB   15499    5.5 MiB          842      61 MiB
//	512 KiB   15233    5.9 MiB          419      81 MiB
//	1 MiB     15113    6.4 MiB          210      94 MiB
//	2 MiB     15061    6.5 MiB          105     112 MiB
//
// File by file, the average barely matters: most files are shorter than
// Min and are one chunk whatever the parameters, and 1 MiB stores 17% more
// than 256 KiB. In a long stream each edit costs about one chunk of new
// data, so smaller chunks deduplicate better (with edits ten times sparser
// than above, 256 KiB stores 17 MiB and 1 MiB 41 MiB), but every chunk also
// costs an index entry, an id, a seal and a lookup: 256 KiB chunks need four
// times the index memory of 1 MiB chunks, several GiB for a vault of tens
// of terabytes. 1 MiB keeps that overhead small; 2 MiB gains little more
// and loses noticeably on edits.
package chunker
