/*
 * inode.c - encoding of inodes and directory entries.
 *
 * One layout for every type keeps decoding simple; fields a type does not use are
 * stored empty. Decoders refuse unknown types and overlong strings.
 */
#include "meta/inode.h"

void file_layout_encode(struct wire_writer *writer, const struct file_layout *layout)
{
    wire_put_u32(writer, layout->table_id);
    wire_put_u32(writer, layout->table_version);
    wire_put_u32(writer, layout->chunk_size);
    wire_put_u32(writer, layout->stripe);
    wire_put_u32(writer, layout->first_chain_index);
    wire_put_u64(writer, layout->seed);
}

void file_layout_decode(struct wire_reader *reader, struct file_layout *layout)
{
    layout->table_id = wire_get_u32(reader);
    layout->table_version = wire_get_u32(reader);
    layout->chunk_size = wire_get_u32(reader);
    layout->stripe = wire_get_u32(reader);
    layout->first_chain_index = wire_get_u32(reader);
    layout->seed = wire_get_u64(reader);
}

void inode_encode(struct wire_writer *writer, const struct inode *inode)
{
    wire_put_u64(writer, inode->id);
    wire_put_u8(writer, inode->type);
    wire_put_u32(writer, inode->mode);
    wire_put_u32(writer, inode->uid);
    wire_put_u32(writer, inode->gid);
    wire_put_u32(writer, inode->nlink);
    wire_put_u32(writer, inode->flags);
    wire_put_i64(writer, inode->atime_ns);
    wire_put_i64(writer, inode->mtime_ns);
    wire_put_i64(writer, inode->ctime_ns);
    wire_put_u64(writer, inode->length);
    wire_put_u64(writer, inode->truncate_version);
    file_layout_encode(writer, &inode->layout);
    wire_put_u64(writer, inode->parent_id);
    wire_put_string(writer, inode->name);
    wire_put_string(writer, inode->symlink_target);
}

bool inode_decode_part(struct wire_reader *reader, struct inode *inode)
{
    inode->id = wire_get_u64(reader);
    inode->type = wire_get_u8(reader);
    inode->mode = wire_get_u32(reader);
    inode->uid = wire_get_u32(reader);
    inode->gid = wire_get_u32(reader);
    inode->nlink = wire_get_u32(reader);
    inode->flags = wire_get_u32(reader);
    inode->atime_ns = wire_get_i64(reader);
    inode->mtime_ns = wire_get_i64(reader);
    inode->ctime_ns = wire_get_i64(reader);
    inode->length = wire_get_u64(reader);
    inode->truncate_version = wire_get_u64(reader);
    file_layout_decode(reader, &inode->layout);
    inode->parent_id = wire_get_u64(reader);
    wire_get_string(reader, inode->name, sizeof(inode->name));
    wire_get_string(reader, inode->symlink_target, sizeof(inode->symlink_target));
    return wire_reader_ok(reader) && inode->type >= INODE_FILE && inode->type <= INODE_SYMLINK;
}

bool inode_decode(struct wire_reader *reader, struct inode *inode)
{
    return inode_decode_part(reader, inode) && wire_reader_done(reader);
}

void directory_entry_encode(struct wire_writer *writer, const struct directory_entry *entry)
{
    wire_put_u64(writer, entry->inode_id);
    wire_put_u8(writer, entry->type);
}

bool directory_entry_decode(struct wire_reader *reader, struct directory_entry *entry)
{
    entry->inode_id = wire_get_u64(reader);
    entry->type = wire_get_u8(reader);
    return wire_reader_done(reader) && entry->type >= INODE_FILE && entry->type <= INODE_SYMLINK;
}
