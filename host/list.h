/*
 * list.h - an intrusive doubly linked list (the node lives in the element).
 * A node that is in no list has next == prev == NULL, so unlinking twice is
 * harmless: callers cancel waiters without knowing which list holds them.
 */
#ifndef TARRY_LIST_H
#define TARRY_LIST_H

#include <stddef.h>

typedef struct list_node {
    struct list_node *next, *prev;
} list_node;

#define list_entry(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

static inline void list_init(list_node *head)
{
    head->next = head->prev = head;
}

static inline int list_empty(const list_node *head)
{
    return head->next == head;
}

static inline int list_linked(const list_node *node)
{
    return node->next != NULL;
}

static inline void list_insert_before(list_node *pos, list_node *node)
{
    node->prev = pos->prev;
    node->next = pos;
    pos->prev->next = node;
    pos->prev = node;
}

static inline void list_push_back(list_node *head, list_node *node)
{
    list_insert_before(head, node);
}

static inline void list_unlink(list_node *node)
{
    if (!node->next)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = NULL;
}

#endif
